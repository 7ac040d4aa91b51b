"""Admin: "start calls" on the lead list, the run page with live progress and its
controls, and the call list. Actions and buttons only call services."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from callcenter.admin_base import ReadOnlyTenantAdmin, TenantScopedAdmin
from callcenter.errors import ApplicationError
from callcenter.models import Business
from callcenter.tenancy import user_business_ids
from leads.admin import LeadAdmin, admin_lead_selection, job_error_message
from outbound import selectors, services
from outbound.models import CallingHours, OutboundCallJob, OutboundCallRun
from outbound.serializers import recording_player_path


@admin.action(description=_("Start calls"), permissions=["change"])
def start_calls(modeladmin, request, queryset):
    try:
        business, selection = admin_lead_selection(modeladmin, request, queryset)
        run = services.outbound_run_start(business=business, selection=selection, created_by=request.user)
    except ApplicationError as error:
        modeladmin.message_user(request, job_error_message(error), messages.ERROR)
        return None
    modeladmin.message_user(
        request,
        _("Calls started: run #%(run_id)s, %(total)s leads, %(concurrency)s at a time.")
        % {"run_id": run.pk, "total": run.total_leads, "concurrency": run.concurrency},
        messages.SUCCESS,
    )
    return HttpResponseRedirect(reverse("admin:outbound_outboundcallrun_change", args=[run.pk]))


LeadAdmin.actions = [*LeadAdmin.actions, start_calls]

RUN_CONTROLS = {
    "pause": services.outbound_run_pause,
    "resume": services.outbound_run_resume,
    "cancel": services.outbound_run_cancel,
}


@admin.register(OutboundCallRun)
class OutboundCallRunAdmin(ReadOnlyTenantAdmin):
    list_display = ["id", "business", "status", "progress_display", "concurrency", "created_by", "created_at"]
    list_filter = ["status", "business"]
    list_select_related = ["business", "created_by"]
    readonly_fields = [
        "business",
        "background_job",
        "status",
        "concurrency",
        "total_leads",
        "max_attempts",
        "retry_delay_seconds",
        "selection",
        "message",
        "created_by",
        "cancel_requested_at",
        "created_at",
        "started_at",
        "finished_at",
    ]
    fields = readonly_fields
    change_form_template = "admin/outbound/outboundcallrun/change_form.html"

    @admin.display(description=_("progress"))
    def progress_display(self, run: OutboundCallRun) -> str:
        progress = selectors.run_progress(run=run)
        finished = progress["completed"] + progress["failed"] + progress["canceled"] + progress["skipped"]
        return f"{finished}/{run.total_leads} ({progress['in_progress']})"

    def get_urls(self):
        return [
            path(
                "<int:run_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="outbound_outboundcallrun_progress",
            ),
            path(
                "<int:run_id>/control/<str:action>/",
                self.admin_site.admin_view(require_POST(self.control_view)),
                name="outbound_outboundcallrun_control",
            ),
            *super().get_urls(),
        ]

    def _run_or_404(self, request, run_id: int) -> OutboundCallRun:
        run = self.get_queryset(request).filter(pk=run_id).first()
        if run is None or not self.has_view_permission(request, run):
            raise Http404
        return run

    def progress_view(self, request, run_id: int):
        run = self._run_or_404(request, run_id)
        return JsonResponse(selectors.run_progress(run=run))

    def control_view(self, request, run_id: int, action: str):
        run = self._run_or_404(request, run_id)
        if action not in RUN_CONTROLS:
            raise Http404
        if not request.user.has_perm("outbound.change_outboundcallrun"):
            raise PermissionDenied
        try:
            RUN_CONTROLS[action](business=run.business, run_id=run.pk)
        except ApplicationError as error:
            self.message_user(request, str(error.message), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:outbound_outboundcallrun_change", args=[run.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        run = self.get_queryset(request).filter(pk=object_id).first()
        if run is not None:
            extra_context["progress"] = selectors.run_progress(run=run)
            extra_context["progress_url"] = reverse("admin:outbound_outboundcallrun_progress", args=[run.pk])
            extra_context["controls"] = [
                (action, reverse("admin:outbound_outboundcallrun_control", args=[run.pk, action]), label)
                for action, label in (("pause", _("Pause")), ("resume", _("Resume")), ("cancel", _("Cancel")))
            ]
            extra_context["calls_url"] = (
                reverse("admin:outbound_outboundcalljob_changelist") + f"?run__id__exact={run.pk}"
            )
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


@admin.register(OutboundCallJob)
class OutboundCallJobAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "id",
        "run",
        "phone",
        "lead_name",
        "status",
        "outcome",
        "attempts",
        "duration_seconds",
        "ended_at",
        "recording_link",
    ]
    list_filter = ["status", "outcome", "run"]
    list_select_related = ["run"]
    search_fields = ["phone", "lead_name", "call_sid"]
    list_per_page = 100
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in OutboundCallJob._meta.fields]

    @admin.display(description=_("recording"))
    def recording_link(self, call: OutboundCallJob) -> str:
        player = recording_player_path(call)
        return format_html('<a href="{}">{}</a>', player, _("Listen")) if player else ""


@admin.register(CallingHours)
class CallingHoursAdmin(TenantScopedAdmin):
    list_display = ["business", "start", "end"]
    list_select_related = ["business"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "business" and not request.user.is_superuser:
            kwargs["queryset"] = Business.objects.filter(pk__in=user_business_ids(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.calling_hours_changed(business=obj.business)

    def delete_model(self, request, obj):
        business = obj.business
        super().delete_model(request, obj)
        services.calling_hours_changed(business=business)

    def delete_queryset(self, request, queryset):
        businesses = [hours.business for hours in queryset.select_related("business")]
        super().delete_queryset(request, queryset)
        for business in businesses:
            services.calling_hours_changed(business=business)
