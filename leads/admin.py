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

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from callcenter.admin_base import TenantScopedAdmin
from callcenter.errors import ActiveJobExists, ApplicationError
from callcenter.models import Business
from callcenter.tenancy import user_business_ids
from leads import imports, services
from leads.errors import LeadInputInvalid
from leads.filters import LEAD_FILTER_FIELDS, lead_search
from leads.models import Lead, LeadImport
from leads.phones import InvalidPhone, phone_normalize


class AdminSelectionError(ApplicationError):
    code = "invalid_selection"


# Changelist parameters that do not narrow the selection (ordering, paging, popups...).
_NON_FILTER_PARAMS = {"o", "p", "all", "e", "_changelist_filters", "_to_field", "_popup"}
BUSINESS_PARAM = "business"


def _business_choices(request) -> QuerySet[Business]:
    return Business.objects.filter(pk__in=user_business_ids(request.user)).order_by("name")


def admin_lead_selection(modeladmin, request, queryset) -> tuple[Business, dict]:
    """The business and the job selection an admin action on leads acts on.

    Raises AdminSelectionError (show its message) when the leads span several businesses
    or the changelist carries a parameter a job cannot reproduce.
    """
    return business_from_admin_action(request, queryset), selection_from_admin_action(modeladmin, request, queryset)


def selection_from_admin_action(modeladmin, request, queryset) -> dict:
    if request.POST.get("select_across") not in ("1", "True", "true"):
        return {"lead_ids": list(queryset.order_by("pk").values_list("pk", flat=True))}
    params = {key: request.GET.getlist(key) for key in request.GET}
    unknown = set(params) - LEAD_FILTER_FIELDS - _NON_FILTER_PARAMS - {BUSINESS_PARAM}
    if unknown:
        raise AdminSelectionError(
            _("These list parameters cannot be used for a background job: %(names)s") % {"names": ", ".join(unknown)}
        )
    lead_filter = {}
    for key, values in params.items():
        values = [value for value in values if value != ""]
        if key in LEAD_FILTER_FIELDS and values:
            lead_filter[key] = values[0] if len(values) == 1 and key != "status" else values
    return {"filter": lead_filter}


def business_from_admin_action(request, queryset) -> Business:
    allowed = set(user_business_ids(request.user))
    chosen = request.GET.get(BUSINESS_PARAM)
    if chosen:
        try:
            business_id = int(chosen)
        except ValueError:
            business_id = None
        if business_id not in allowed:
            raise AdminSelectionError(_("Unknown business."))
    elif len(allowed) == 1:
        business_id = next(iter(allowed))
    else:
        found = list(queryset.order_by().values_list("business_id", flat=True).distinct()[:2])
        if len(found) != 1:
            raise AdminSelectionError(_("The selected leads belong to several businesses: filter by one business."))
        business_id = found[0]
    return Business.objects.get(pk=business_id)


def job_error_message(error: ApplicationError) -> str:
    if isinstance(error, ActiveJobExists):
        return _("%(message)s (job #%(job_id)s, status: %(status)s)") % {
            "message": error.message,
            "job_id": error.job.pk,
            "status": error.job.get_status_display(),
        }
    if isinstance(error, LeadInputInvalid):
        details = "; ".join(f"{key}: {' '.join(values)}" for key, values in error.extra["fields"].items())
        return f"{error.message} {details}"
    return str(error.message)


class BusinessListFilter(admin.SimpleListFilter):
    title = _("business")
    parameter_name = BUSINESS_PARAM

    def lookups(self, request, model_admin):
        businesses = _business_choices(request)
        if len(businesses) < 2:
            return []
        return [(str(business.pk), business.name) for business in businesses]

    def queryset(self, request, queryset):
        return queryset.filter(business_id=self.value()) if self.value() else queryset


class StatusListFilter(admin.SimpleListFilter):
    # Parameter names equal the LeadFilter's, so "select all" hands the job the same filter.
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Lead.Status.choices

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


class DoNotCallListFilter(admin.SimpleListFilter):
    title = _("do not call")
    parameter_name = "do_not_call"

    def lookups(self, request, model_admin):
        return [("true", _("Yes")), ("false", _("No"))]

    def queryset(self, request, queryset):
        if self.value() in ("true", "false"):
            return queryset.filter(do_not_call=self.value() == "true")
        return queryset


class LeadImportListFilter(admin.SimpleListFilter):
    title = _("import")
    parameter_name = "lead_import"
    recent_imports = 30

    def lookups(self, request, model_admin):
        recent = LeadImport.objects.filter(business__in=user_business_ids(request.user)).order_by("-id")
        return [(str(item.pk), str(item)) for item in recent[: self.recent_imports]]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(lead_import_id=int(self.value()))
        except ValueError:
            return queryset.none()


class LeadBulkUpdateForm(forms.Form):
    status = forms.ChoiceField(
        label=_("status"), choices=[("", _("(unchanged)")), *Lead.Status.choices], required=False
    )
    do_not_call = forms.ChoiceField(
        label=_("do not call"),
        choices=[("", _("(unchanged)")), ("true", _("Yes")), ("false", _("No"))],
        required=False,
    )
    custom_fields = forms.JSONField(
        label=_("custom fields"),
        required=False,
        help_text=_('Merged into each lead\'s custom fields, e.g. {"campaign": "spring"}.'),
    )

    def changes(self) -> dict:
        data = self.cleaned_data
        changes = {}
        if data.get("status"):
            changes["status"] = data["status"]
        if data.get("do_not_call"):
            changes["do_not_call"] = data["do_not_call"] == "true"
        if data.get("custom_fields"):
            changes["custom_fields"] = data["custom_fields"]
        return changes


class LeadImportUploadForm(forms.Form):
    business = forms.ModelChoiceField(label=_("business"), queryset=Business.objects.none())
    file = forms.FileField(label=_("CSV file"), help_text=_("UTF-8 or Windows-1255, with a phone column."))

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        businesses = _business_choices(request)
        self.fields["business"].queryset = businesses
        if len(businesses) == 1:
            self.fields["business"].initial = businesses[0]
            self.fields["business"].widget = forms.HiddenInput()


class LeadAdminForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = ["business", "phone", "name", "email", "status", "do_not_call", "custom_fields"]

    def clean_phone(self):
        try:
            return phone_normalize(self.cleaned_data["phone"])
        except InvalidPhone:
            raise forms.ValidationError(_("Enter a valid phone number.")) from None


@admin.register(Lead)
class LeadAdmin(TenantScopedAdmin):
    form = LeadAdminForm
    list_display = ["id", "name", "phone", "email", "status", "do_not_call", "lead_import", "created_at"]
    list_display_links = ["id", "name"]
    list_filter = [BusinessListFilter, StatusListFilter, DoNotCallListFilter, LeadImportListFilter]
    list_select_related = ["lead_import"]
    search_fields = ["name", "phone", "email"]
    search_help_text = _("Name, email, or a phone in any format.")
    readonly_fields = ["lead_import", "created_at", "updated_at"]
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

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "business":
            kwargs["queryset"] = _business_choices(request)
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
class LeadImportAdmin(TenantScopedAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # The report stays; the leads an import created are deleted by the action below.
        return False

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
