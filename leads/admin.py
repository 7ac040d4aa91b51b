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
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from callcenter.admin_base import TenantScopedAdmin
from callcenter.admin_confirm import Fact, confirmation_response, is_confirmed
from callcenter.admin_display import import_link, job_link, ltr
from callcenter.errors import ApplicationError
from callcenter.tenancy import user_business_ids
from leads import imports, services
from leads.admin_forms import DoNotCallNumberAdminForm, LeadAdminForm, LeadBulkUpdateForm, LeadImportUploadForm
from leads.admin_imports import LeadImportAdmin
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
    leads_delete_confirmation,
    selection_from_admin_action,
)
from leads.errors import LeadInputInvalid
from leads.filters import lead_search
from leads.models import DoNotCallNumber, Lead, LeadImport
from leads.selectors import lead_selection_count

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
        "id_display",
        "name",
        "phone_display",
        "email",
        "status",
        "do_not_call",
        "last_outcome",
        "last_called_at",
        "lead_import_display",
        "created_at",
    ]
    list_display_links = ["id_display", "name"]
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
            if len(kwargs["queryset"]) == 1:
                kwargs["initial"] = kwargs["queryset"][0]
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_search_results(self, request, queryset, search_term):
        return lead_search(queryset, search_term), False

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="leads_lead_import"),
            *super().get_urls(),
        ]

    @admin.display(description=_("lead"), ordering="id")
    def id_display(self, lead: Lead):
        return ltr(f"#{lead.pk}")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        lead = self.get_object(request, object_id)
        if lead is not None:
            title = format_html("{} {} {}", _("Lead"), lead.name, ltr(lead.phone))
            extra_context = {**(extra_context or {}), "title": title, "console_crumb": title, "subtitle": None}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("phone"), ordering="phone")
    def phone_display(self, lead: Lead):
        return ltr(lead.phone)

    @admin.display(description=_("import"), ordering="lead_import")
    def lead_import_display(self, lead: Lead):
        return import_link(lead.lead_import_id)

    def _start_job(self, request, start, done_message) -> None:
        try:
            job = start()
        except ApplicationError as error:
            self.message_user(request, job_error_message(error), messages.ERROR)
            return
        self.message_user(
            request,
            format_html(done_message, job=job_link(job.pk), status=job.get_status_display(), total=job.progress_total),
            messages.SUCCESS,
        )

    def _selection_or_message(self, request, queryset):
        try:
            business, selection = admin_lead_selection(self, request, queryset)
            return business, selection, lead_selection_count(business=business, selection=selection)
        except ApplicationError as error:
            self.message_user(request, job_error_message(error), messages.ERROR)
            return None

    @admin.action(description=_("Delete in background"), permissions=["delete"])
    def delete_in_background(self, request, queryset):
        chosen = self._selection_or_message(request, queryset)
        if chosen is None:
            return None
        business, selection, count = chosen
        if not is_confirmed(request):
            return leads_delete_confirmation(
                self,
                request,
                action="delete_in_background",
                title=_("Delete leads"),
                question=_("Delete these leads? Deleted leads cannot be brought back."),
                count=count,
                facts=[Fact(_("business"), business.name)],
            )
        self._start_job(
            request,
            lambda: services.leads_bulk_delete_start(business=business, selection=selection, created_by=request.user),
            _("Bulk delete of {total} leads started: job {job} ({status})."),
        )
        return None

    @admin.action(description=_("Bulk update"), permissions=["change"])
    def bulk_update(self, request, queryset):
        chosen = self._selection_or_message(request, queryset)
        if chosen is None:
            return None
        business, selection, count = chosen
        applying = is_confirmed(request)
        form = LeadBulkUpdateForm(request.POST if applying else None)
        if applying and form.is_valid():
            changes = form.changes()
            self._start_job(
                request,
                lambda: services.leads_bulk_update_start(
                    business=business, selection=selection, changes=changes, created_by=request.user
                ),
                _("Bulk update of {total} leads started: job {job} ({status})."),
            )
            return None
        return confirmation_response(
            self,
            request,
            action="bulk_update",
            title=_("Bulk update of leads"),
            question=_("Choose what to change; only the fields you set are changed."),
            count=count,
            count_label=ngettext("lead will be updated", "leads will be updated", count),
            confirm_label=_("Update %(count)s leads") % {"count": f"{count:,}"},
            facts=[Fact(_("business"), business.name)],
            form=form,
        )

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


@admin.register(DoNotCallNumber)
class DoNotCallNumberAdmin(TenantScopedAdmin):
    """The business's do-not-call list: numbers that opted out by keypress, and those staff
    add. Every run checks it before each dial; removing a number lets runs call it again."""

    form = DoNotCallNumberAdminForm
    list_display = ["phone_display", "source", "business_display", "created_at"]
    list_filter = [BusinessListFilter, "source"]
    search_fields = ["phone"]
    readonly_fields = ["source", "created_at"]

    @admin.display(description=_("phone"), ordering="phone")
    def phone_display(self, number: DoNotCallNumber):
        return ltr(number.phone)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "business":
            kwargs["queryset"] = business_choices(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
