"""Lead admin: search and filters that scale, bulk actions that run as background jobs.

Reusing the selection in another app's action (e.g. "start calls")::

    from leads.admin import LeadAdmin, admin_lead_selection

    @admin.action(description=...)
    def start_calls(modeladmin, request, queryset):
        business, selection = admin_lead_selection(modeladmin, request, queryset)
        ...  # selection is {"lead_ids": [...]} or {"filter": {...}}, for
             # leads.selectors.lead_queryset_from_selection(business=..., selection=...)

    LeadAdmin.actions = [*LeadAdmin.actions, start_calls]

With "select all N across pages" the selection is the changelist's filter (never a
materialised id list); otherwise it is the ids ticked on the page.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from callcenter.admin_base import ReadOnlyTenantAdmin, TenantScopedAdmin
from callcenter.errors import ApplicationError
from callcenter.tenancy import user_business_ids
from leads import imports, services
from leads.admin_forms import DoNotCallNumberAdminForm, LeadAdminForm, LeadBulkUpdateForm, LeadImportUploadForm
from leads.admin_selection import (
    AdminSelectionError,
    BusinessListFilter,
    DoNotCallListFilter,
    LastCalledListFilter,
    LastOutcomeListFilter,
    LeadImportListFilter,
    StatusListFilter,
    admin_lead_selection,
    business_choices,
    business_from_admin_action,
    job_error_message,
    selection_from_admin_action,
)
from leads.errors import LeadInputInvalid
from leads.filters import lead_search
from leads.models import DoNotCallNumber, Lead, LeadImport

# What other apps' admin actions use (see the module docstring).
__all__ = [
    "AdminSelectionError",
    "LeadAdmin",
    "LeadImportAdmin",
    "admin_lead_selection",
    "business_from_admin_action",
    "job_error_message",
    "selection_from_admin_action",
]


@admin.register(Lead)
class LeadAdmin(TenantScopedAdmin):
    form = LeadAdminForm
    list_display = [
        "id",
        "name",
        "phone",
        "email",
        "status",
        "do_not_call",
        "last_outcome",
        "last_called_at",
        "lead_import",
        "created_at",
    ]
    list_display_links = ["id", "name"]
    list_filter = [
        BusinessListFilter,
        StatusListFilter,
        DoNotCallListFilter,
        LastOutcomeListFilter,
        LastCalledListFilter,
        LeadImportListFilter,
    ]
    list_select_related = ["lead_import"]
    search_fields = ["name", "phone", "email"]
    search_help_text = _("Name, email, or a phone in any format.")
    readonly_fields = [
        "time_zone",
        "last_outcome",
        "last_called_at",
        "call_attempts",
        "lead_import",
        "created_at",
        "updated_at",
    ]
    list_per_page = 100
    # Counting a million rows twice per page view is wasted work.
    show_full_result_count = False
    # A list other apps extend: LeadAdmin.actions = [*LeadAdmin.actions, their_action].
    actions = ["delete_in_background", "bulk_update"]

    def get_actions(self, request):
        found = super().get_actions(request)
        # The stock action loads every object into memory and deletes within the request.
        found.pop("delete_selected", None)
        return found

    def delete_view(self, request, object_id, extra_context=None):
        """The change page's delete button deletes through the same service as the bulk job
        (not while the lead is in a call; its queued calls cancelled), not the collector."""
        lead = self.get_object(request, unquote(object_id)) if request.method == "POST" else None
        if lead is None:
            return super().delete_view(request, object_id, extra_context)  # the page, or 404
        if not self.has_delete_permission(request, lead):
            raise PermissionDenied
        try:
            with transaction.atomic():
                self.log_deletions(request, [lead])
                services.lead_delete(business=lead.business, lead_id=lead.pk)
        except ApplicationError as error:
            self.message_user(request, str(error.message), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:leads_lead_change", args=[lead.pk]))
        return self.response_delete(request, str(lead), lead.pk)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "business":
            kwargs["queryset"] = business_choices(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_search_results(self, request, queryset, search_term):
        return lead_search(queryset, search_term), False

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="leads_lead_import"),
            *super().get_urls(),
        ]

    def _start_job(self, request, start, done_message) -> None:
        try:
            job = start()
        except ApplicationError as error:
            self.message_user(request, job_error_message(error), messages.ERROR)
            return
        self.message_user(
            request,
            done_message % {"job_id": job.pk, "status": job.get_status_display()},
            messages.SUCCESS,
        )

    @admin.action(description=_("Delete in background"), permissions=["delete"])
    def delete_in_background(self, request, queryset):
        def start():
            business, selection = admin_lead_selection(self, request, queryset)
            return services.leads_bulk_delete_start(business=business, selection=selection, created_by=request.user)

        self._start_job(request, start, _("Bulk delete started: job #%(job_id)s (%(status)s)."))

    @admin.action(description=_("Bulk update"), permissions=["change"])
    def bulk_update(self, request, queryset):
        applying = "apply" in request.POST
        form = LeadBulkUpdateForm(request.POST if applying else None)
        if applying and form.is_valid():

            def start():
                business, selection = admin_lead_selection(self, request, queryset)
                return services.leads_bulk_update_start(
                    business=business, selection=selection, changes=form.changes(), created_by=request.user
                )

            self._start_job(request, start, _("Bulk update started: job #%(job_id)s (%(status)s)."))
            return None
        select_across = request.POST.get("select_across") in ("1", "True", "true")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Bulk update of leads"),
            "opts": self.model._meta,
            "form": form,
            "action": "bulk_update",
            "select_across": "1" if select_across else "0",
            "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "selected_count": None if select_across else len(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/leads/lead/bulk_update.html", context)

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = LeadImportUploadForm(request.POST or None, request.FILES or None, request=request)
        if request.method == "POST" and form.is_valid():
            try:
                lead_import = imports.lead_import_start(
                    business=form.cleaned_data["business"],
                    uploaded_file=form.cleaned_data["file"],
                    created_by=request.user,
                )
            except LeadInputInvalid as error:
                for message in error.extra["fields"].get("file", [str(error.message)]):
                    form.add_error("file", message)
            except ApplicationError as error:
                self.message_user(request, job_error_message(error), messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("Import #%(import_id)s started: job #%(job_id)s.")
                    % {"import_id": lead_import.pk, "job_id": lead_import.job_id},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:leads_leadimport_change", args=[lead_import.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import leads"),
            "opts": self.model._meta,
            "form": form,
            "recent_imports": LeadImport.objects.filter(business__in=user_business_ids(request.user)).select_related(
                "job"
            )[:10],
        }
        return TemplateResponse(request, "admin/leads/lead/import.html", context)


@admin.register(LeadImport)
class LeadImportAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "id",
        "file_name",
        "business",
        "created_by",
        "created_at",
        "rows_total",
        "rows_created",
        "rows_updated",
        "rows_rejected",
        "job_status",
    ]
    list_select_related = ["business", "created_by", "job"]
    readonly_fields = [
        "business",
        "file_name",
        "created_by",
        "created_at",
        "job_status",
        "rows_total",
        "rows_created",
        "rows_updated",
        "rows_rejected",
        "error_report",
    ]
    fields = readonly_fields
    actions = ["delete_imported_leads"]
    shown_errors = 1000

    def has_delete_leads_permission(self, request) -> bool:
        return request.user.has_perm("leads.delete_lead")

    @admin.display(description=_("job"))
    def job_status(self, lead_import: LeadImport) -> str:
        job = lead_import.job
        if job is None:
            return "-"
        total = job.progress_total if job.progress_total is not None else "?"
        return f"#{job.pk} {job.get_status_display()} {job.progress_done}/{total}"

    @admin.display(description=_("rejected rows"))
    def error_report(self, lead_import: LeadImport):
        errors = lead_import.errors or []
        if not errors:
            return _("None")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (error.get("row"), error.get("reason"), error.get("message", ""), error.get("value", ""))
                for error in errors[: self.shown_errors]
            ),
        )
        more = ""
        if lead_import.rows_rejected > self.shown_errors:
            more = _("%(shown)d of %(total)d rejected rows shown.") % {
                "shown": self.shown_errors,
                "total": lead_import.rows_rejected,
            }
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>{}",
            _("row"),
            _("reason"),
            _("message"),
            _("value"),
            rows,
            more,
        )

    @admin.action(description=_("Delete the leads these imports created, in background"), permissions=["delete_leads"])
    def delete_imported_leads(self, request, queryset):
        for lead_import in queryset.select_related("business"):
            try:
                job = services.lead_import_delete_start(
                    business=lead_import.business, import_id=lead_import.pk, created_by=request.user
                )
            except ApplicationError as error:
                self.message_user(request, job_error_message(error), messages.ERROR)
                return
            self.message_user(
                request,
                _("Deleting the leads of import #%(import_id)s: job #%(job_id)s (%(status)s).")
                % {"import_id": lead_import.pk, "job_id": job.pk, "status": job.get_status_display()},
                messages.SUCCESS,
            )


@admin.register(DoNotCallNumber)
class DoNotCallNumberAdmin(TenantScopedAdmin):
    """The business's do-not-call list: numbers that opted out by keypress, and those staff
    add. Every run checks it before each dial; removing a number lets runs call it again."""

    form = DoNotCallNumberAdminForm
    list_display = ["phone", "source", "business", "created_at"]
    list_filter = [BusinessListFilter, "source"]
    search_fields = ["phone"]
    readonly_fields = ["source", "created_at"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "business":
            kwargs["queryset"] = business_choices(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
