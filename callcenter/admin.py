from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from callcenter import (
    admin_auth,  # noqa: F401  (users and groups, permission names in Hebrew)
    services,
    third_party_names,  # noqa: F401  (Hebrew names of other apps' strings)
)
from callcenter.admin_base import HebrewLabelsMixin, ReadOnlyTenantAdmin
from callcenter.admin_display import import_link, job_link, ltr, ltr_json, run_link
from callcenter.admin_filters import BusinessFilter
from callcenter.admin_task_queue import register_superuser_only
from callcenter.errors import ApplicationError
from callcenter.job_outcome import job_outcome_html
from callcenter.models import BackgroundJob, Business, Membership

JobType = BackgroundJob.JobType

register_superuser_only()


class MembershipInline(HebrewLabelsMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Business)
class BusinessAdmin(HebrewLabelsMixin, admin.ModelAdmin):
    list_display = ["id_display", "name", "time_zone", "created_at"]
    list_display_links = ["id_display", "name"]
    search_fields = ["name"]
    inlines = [MembershipInline]

    @admin.display(description=_("id"), ordering="id")
    def id_display(self, business: Business):
        return ltr(business.pk)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(memberships__user=request.user)


def job_subject(job: BackgroundJob):
    """The import or run a job works for, as a link."""
    if job.job_type == JobType.ENQUEUE_OUTBOUND_CALLS:
        run = getattr(job, "outbound_run", None)
        return format_html("{} {}", _("run"), run_link(run.pk)) if run else "-"
    import_id = (job.payload or {}).get("import_id")
    if job.job_type in (JobType.IMPORT_LEADS, JobType.DELETE_IMPORTED_LEADS) and isinstance(import_id, int):
        return format_html("{} {}", _("import"), import_link(import_id))
    return "-"


@admin.register(BackgroundJob)
class BackgroundJobAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "id_display",
        "business_display",
        "job_type",
        "status",
        "subject_display",
        "progress_display",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_display_links = ["id_display"]
    list_select_related = ["business", "created_by", "outbound_run"]
    search_fields = ["id"]
    actions = ["cancel_jobs"]
    readonly_fields = [
        "outcome_display",
        "business_display",
        "job_type",
        "status",
        "subject_display",
        "progress_display",
        "created_by",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "cancel_requested_at",
        "payload_display",
        "result_display",
    ]
    fields = readonly_fields
    change_form_template = "admin/callcenter/live_change_form.html"

    def get_list_filter(self, request):
        return ["job_type", "status", BusinessFilter]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if job is not None:
            extra_context["title"] = format_html("{} {} · {}", _("Job"), ltr(f"#{job.pk}"), job.get_job_type_display())
            extra_context["console_crumb"] = extra_context["title"]
            extra_context["subtitle"] = None  # the title names the object already
            extra_context["live"] = job.is_active
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("job"), ordering="id")
    def id_display(self, job: BackgroundJob):
        return ltr(f"#{job.pk}")

    @admin.display(description=_("for"))
    def subject_display(self, job: BackgroundJob):
        return job_subject(job)

    @admin.display(description=_("progress"))
    def progress_display(self, job: BackgroundJob):
        total = job.progress_total if job.progress_total is not None else "…"
        percent = job.progress_percent
        suffix = f" ({percent}%)" if percent is not None else ""
        return ltr(f"{job.progress_done}/{total}{suffix}")

    @admin.display(description=_("what happened"))
    def outcome_display(self, job: BackgroundJob):
        return job_outcome_html(job)

    @admin.display(description=_("payload"))
    def payload_display(self, job: BackgroundJob):
        return ltr_json(job.payload)

    @admin.display(description=_("result"))
    def result_display(self, job: BackgroundJob):
        return ltr_json(job.result)

    @admin.action(description=_("Cancel selected jobs"), permissions=["view"])
    def cancel_jobs(self, request, queryset):
        cancelled = 0
        for job in queryset.filter(status__in=BackgroundJob.ACTIVE_STATUSES).select_related("business"):
            try:
                services.background_job_request_cancel(business=job.business, job_id=job.pk)
                cancelled += 1
            except ApplicationError as error:
                self.message_user(request, format_html("{}: {}", job_link(job.pk), error.message), messages.WARNING)
        if not cancelled:
            self.message_user(request, _("None of the selected jobs is active; nothing was cancelled."), messages.INFO)
            return
        self.message_user(
            request,
            ngettext("Cancel requested for %(count)d job.", "Cancel requested for %(count)d jobs.", cancelled)
            % {"count": cancelled},
            messages.SUCCESS,
        )
