from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from callcenter import services
from callcenter.admin_base import ReadOnlyTenantAdmin, guarded_job_fields
from callcenter.admin_task_queue import register_superuser_only
from callcenter.errors import ApplicationError
from callcenter.models import BackgroundJob, Business, Membership

register_superuser_only()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Business)
class BusinessAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "time_zone", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(memberships__user=request.user)


@admin.register(BackgroundJob)
class BackgroundJobAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "id",
        "business",
        "job_type",
        "status",
        "progress_display",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["job_type", "status", "business"]
    list_select_related = ["business", "created_by"]
    search_fields = ["id", "error_message"]
    actions = ["cancel_jobs"]
    readonly_fields = guarded_job_fields(BackgroundJob)

    @admin.display(description=_("progress"))
    def progress_display(self, job: BackgroundJob) -> str:
        total = job.progress_total if job.progress_total is not None else "?"
        percent = job.progress_percent
        suffix = f" ({percent}%)" if percent is not None else ""
        return f"{job.progress_done}/{total}{suffix}"

    @admin.action(description=_("Cancel selected jobs"), permissions=["view"])
    def cancel_jobs(self, request, queryset):
        cancelled = 0
        for job in queryset.filter(status__in=BackgroundJob.ACTIVE_STATUSES):
            try:
                services.background_job_request_cancel(business=job.business, job_id=job.pk)
                cancelled += 1
            except ApplicationError as error:
                self.message_user(request, f"#{job.pk}: {error.message}", messages.WARNING)
        self.message_user(
            request,
            ngettext("Cancel requested for %(count)d job.", "Cancel requested for %(count)d jobs.", cancelled)
            % {"count": cancelled},
            messages.SUCCESS,
        )
