"""The import pages: live progress while the import runs, then what happened in Hebrew,
the rejected rows with their reasons as labels, and "delete the leads it created"."""

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from callcenter.admin_base import ReadOnlyTenantAdmin
from callcenter.admin_confirm import Fact, is_confirmed
from callcenter.admin_display import import_link, job_link, ltr
from callcenter.admin_filters import BusinessFilter
from callcenter.errors import ApplicationError
from callcenter.job_outcome import job_outcome_html
from leads import services
from leads.admin_selection import job_error_message, leads_delete_confirmation
from leads.models import LeadImport
from leads.selectors import lead_import_leads

REJECT_REASON_LABELS = {
    "missing_phone": _("Phone missing"),
    "invalid_phone": _("Invalid phone number"),
    "duplicate_in_file": _("Duplicate in the file"),
    "invalid_email": _("Invalid email"),
    "name_too_long": _("Name too long"),
}


def reject_reason_label(code: str) -> str:
    return str(REJECT_REASON_LABELS.get(code, code))


@admin.register(LeadImport)
class LeadImportAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "id_display",
        "file_name",
        "business_display",
        "created_by_display",
        "created_at",
        "rows_total",
        "rows_created",
        "rows_updated",
        "rows_rejected",
        "job_status",
    ]
    list_display_links = ["id_display"]
    list_select_related = ["business", "created_by", "job"]
    readonly_fields = [
        "outcome",
        "business_display",
        "file_name",
        "created_by_display",
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
    change_form_template = "admin/callcenter/live_change_form.html"

    def has_delete_leads_permission(self, request) -> bool:
        return request.user.has_perm("leads.delete_lead")

    def get_list_filter(self, request):
        return [BusinessFilter]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        lead_import = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if lead_import is not None:
            extra_context["title"] = format_html("{} {}", _("Import"), ltr(f"#{lead_import.pk}"))
            extra_context["console_crumb"] = extra_context["title"]
            extra_context["subtitle"] = None  # the title names the object already
            extra_context["live"] = lead_import.job is not None and lead_import.job.is_active
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("import"), ordering="id")
    def id_display(self, lead_import: LeadImport):
        return ltr(f"#{lead_import.pk}")

    @admin.display(description=_("what happened"))
    def outcome(self, lead_import: LeadImport):
        job = lead_import.job
        if job is None:
            return _("The import has not started.")
        return job_outcome_html(job)

    @admin.display(description=_("job"))
    def job_status(self, lead_import: LeadImport):
        job = lead_import.job
        if job is None:
            return "-"
        total = job.progress_total if job.progress_total is not None else "…"
        return format_html(
            "{} {} {}",
            job_link(job.pk),
            job.get_status_display(),
            ltr(f"{job.progress_done}/{total}"),
        )

    @admin.display(description=_("rejected rows"))
    def error_report(self, lead_import: LeadImport):
        errors = lead_import.errors or []
        if not errors:
            return _("None")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    ltr(error.get("row")),
                    reject_reason_label(error.get("reason", "")),
                    error.get("message", ""),
                    ltr(error.get("value", "")),
                )
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
            '<table class="import-report"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
            "<tbody>{}</tbody></table>{}",
            _("row"),
            _("reason"),
            _("message"),
            _("value"),
            rows,
            more,
        )

    @admin.action(description=_("Delete the leads these imports created, in background"), permissions=["delete_leads"])
    def delete_imported_leads(self, request, queryset):
        imports = list(queryset.select_related("business").order_by("id"))
        counts = [(item, lead_import_leads(business=item.business, import_id=item.pk).count()) for item in imports]
        total = sum(count for _item, count in counts)
        if not is_confirmed(request):
            return leads_delete_confirmation(
                self,
                request,
                action="delete_imported_leads",
                title=_("Delete imported leads"),
                question=_("Delete the leads these imports created? Deleted leads cannot be brought back."),
                count=total,
                facts=[
                    Fact(format_html("{} {} {}", _("Import"), ltr(f"#{item.pk}"), item.file_name), ltr(count))
                    for item, count in counts
                ],
            )
        for lead_import in imports:
            try:
                job = services.lead_import_delete_start(
                    business=lead_import.business, import_id=lead_import.pk, created_by=request.user
                )
            except ApplicationError as error:
                self.message_user(request, job_error_message(error), messages.ERROR)
                return None
            self.message_user(
                request,
                format_html(
                    _("Deleting the {total} leads of import {import_link}: job {job} ({status})."),
                    total=job.progress_total,
                    import_link=import_link(lead_import.pk),
                    job=job_link(job.pk),
                    status=job.get_status_display(),
                ),
                messages.SUCCESS,
            )
        return None
