"""Admin: the run page with its dashboard and controls, the runs list with each run's
outcomes in brief, the call list and call page, and the calls on a lead's page. Actions and
buttons only call services. "Start calls" lives in admin_start."""

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from callcenter.admin_base import ReadOnlyTenantAdmin, TenantScopedAdmin
from callcenter.admin_display import admin_link, job_link, ltr, ltr_json, run_link
from callcenter.admin_filters import BusinessFilter, RecentOwnRowsFilter
from callcenter.errors import ApplicationError
from callcenter.models import Business
from callcenter.tenancy import user_business_ids
from leads.admin import LeadAdmin
from outbound import (
    admin_start,  # noqa: F401  (adds "start calls" to the lead list)
    selectors,
    services,
)
from outbound.admin_run_display import RunStatusLabels, brief_outcomes, dashboard_context, twilio_status_label
from outbound.models import CallAttempt, CallingHours, OutboundCallJob, OutboundCallRun
from outbound.serializers import recording_player_path

RunStatus = OutboundCallRun.Status

RUN_CONTROLS = {
    "pause": (services.outbound_run_pause, _("The run is paused: no new calls start; calls in progress finish.")),
    "resume": (services.outbound_run_resume, _("The run goes on: calls start again.")),
    "cancel": (
        services.outbound_run_cancel,
        _("The run is being cancelled: queued calls are cancelled; calls in progress finish."),
    ),
}


class RunFilter(RecentOwnRowsFilter):
    title = _("run")
    parameter_name = "run__id__exact"
    field = "run_id"
    model = OutboundCallRun


class OutcomeBreakdownChangeList(ChangeList):
    """The runs list: every run of the page gets its outcome counts from one query."""

    def get_results(self, request):
        super().get_results(request)
        counts = selectors.outcome_counts_of_runs(run_ids=[run.pk for run in self.result_list])
        for run in self.result_list:
            run.outcome_counts = counts[run.pk]


@admin.register(OutboundCallRun)
class OutboundCallRunAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "id_display",
        "business_display",
        "status_display",
        "progress_display",
        "outcomes_display",
        "created_at",
    ]
    list_display_links = ["id_display"]
    list_select_related = ["business", "created_by"]
    readonly_fields = [
        "business_display",
        "job_display",
        "status_display",
        "concurrency",
        "total_leads",
        "max_attempts",
        "retry_delay_seconds",
        "selection_display",
        "message",
        "created_by",
        "cancel_requested_at",
        "created_at",
        "started_at",
        "finished_at",
    ]
    fields = readonly_fields
    change_form_template = "admin/outbound/outboundcallrun/change_form.html"

    def get_list_filter(self, request):
        return ["status", BusinessFilter]

    def get_changelist(self, request, **kwargs):
        return OutcomeBreakdownChangeList

    @admin.display(description=_("run"), ordering="id")
    def id_display(self, run: OutboundCallRun):
        return ltr(f"#{run.pk}")

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, run: OutboundCallRun) -> str:
        return RunStatusLabels.of(run)

    @admin.display(description=_("background job"))
    def job_display(self, run: OutboundCallRun):
        return job_link(run.background_job_id)

    @admin.display(description=_("selection"))
    def selection_display(self, run: OutboundCallRun):
        return ltr_json(run.selection)

    @admin.display(description=_("finished"))
    def progress_display(self, run: OutboundCallRun):
        counts = getattr(run, "outcome_counts", None) or selectors.run_outcome_counts(run=run)
        finished = sum(counts.values()) - counts["canceled"]
        return ltr(f"{finished}/{run.total_leads}")

    @admin.display(description=_("outcomes"))
    def outcomes_display(self, run: OutboundCallRun):
        counts = getattr(run, "outcome_counts", None) or selectors.run_outcome_counts(run=run)
        return brief_outcomes(counts)

    def get_urls(self):
        return [
            path(
                "<int:run_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="outbound_outboundcallrun_progress",
            ),
            path(
                "<int:run_id>/dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="outbound_outboundcallrun_dashboard",
            ),
            path(
                "<int:run_id>/control/<str:action>/",
                self.admin_site.admin_view(self.control_view),
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
        return JsonResponse({**selectors.run_progress(run=run), "outcomes": selectors.run_outcome_counts(run=run)})

    def dashboard_view(self, request, run_id: int):
        """The dashboard alone, for the page's live refresh."""
        run = self._run_or_404(request, run_id)
        return TemplateResponse(
            request, "admin/outbound/outboundcallrun/dashboard.html", dashboard_context(request, run)
        )

    def control_view(self, request, run_id: int, action: str):
        run = self._run_or_404(request, run_id)
        if action not in RUN_CONTROLS:
            raise Http404
        if not request.user.has_perm("outbound.change_outboundcallrun"):
            raise PermissionDenied
        run_page = reverse("admin:outbound_outboundcallrun_change", args=[run.pk])
        if request.method != "POST":
            if action != "cancel":
                return HttpResponseRedirect(run_page)
            return self._cancel_confirmation(request, run)
        control, done_message = RUN_CONTROLS[action]
        try:
            control(business=run.business, run_id=run.pk)
        except ApplicationError as error:
            self.message_user(request, format_html("{}: {}", run_link(run.pk), error.message), messages.ERROR)
        else:
            self.message_user(request, format_html("{}: {}", run_link(run.pk), done_message), messages.SUCCESS)
        return HttpResponseRedirect(run_page)

    def _cancel_confirmation(self, request, run: OutboundCallRun):
        progress = selectors.run_progress(run=run)
        context = {
            **self.admin_site.each_context(request),
            "title": format_html("{} {}", _("Cancel run"), ltr(f"#{run.pk}")),
            "opts": self.model._meta,
            "run": run,
            "queued": progress["queued"],
            "in_progress": progress["in_progress"],
            "run_url": reverse("admin:outbound_outboundcallrun_change", args=[run.pk]),
            "cancel_url": reverse("admin:outbound_outboundcallrun_control", args=[run.pk, "cancel"]),
        }
        return TemplateResponse(request, "admin/outbound/outboundcallrun/cancel_confirm.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        run = self.get_queryset(request).filter(pk=object_id).first()
        if run is not None:
            extra_context.update(dashboard_context(request, run))
            extra_context["title"] = format_html("{} {}", _("Run"), ltr(f"#{run.pk}"))
            extra_context["console_crumb"] = extra_context["title"]
            extra_context["subtitle"] = None  # the title names the object already
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


class CallsOfLeadInline(admin.TabularInline):
    """The lead page lists the lead's calls, newest first, each linking to its call page."""

    model = OutboundCallJob
    fk_name = "lead"
    extra = 0
    can_delete = False
    max_num = 0
    fields = ["call_link", "run_display", "status", "outcome", "attempts", "ended_at", "recording_link"]
    readonly_fields = fields
    ordering = ["-id"]
    verbose_name = _("call")
    verbose_name_plural = _("calls of this lead")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("run")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("call"))
    def call_link(self, call: OutboundCallJob):
        return admin_link("admin:outbound_outboundcalljob_change", call.pk, ltr(f"#{call.pk}"))

    @admin.display(description=_("run"))
    def run_display(self, call: OutboundCallJob):
        return run_link(call.run_id)

    @admin.display(description=_("recording"))
    def recording_link(self, call: OutboundCallJob):
        player = recording_player_path(call)
        return format_html('<a href="{}">{}</a>', player, _("Listen")) if player else "-"


LeadAdmin.inlines = [*LeadAdmin.inlines, CallsOfLeadInline]


@admin.register(OutboundCallJob)
class OutboundCallJobAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "id_display",
        "run_display",
        "phone_display",
        "lead_name",
        "status",
        "outcome",
        "attempts",
        "duration_seconds",
        "ended_at",
        "recording_link",
    ]
    list_display_links = ["id_display"]
    list_select_related = ["run"]
    search_fields = ["phone", "lead_name", "call_sid"]
    list_per_page = 100
    show_full_result_count = False
    change_form_template = "admin/outbound/outboundcalljob/change_form.html"
    readonly_fields = [
        "run_display",
        "lead_display",
        "phone_display",
        "lead_name",
        "status",
        "outcome",
        "attempts",
        "twilio_status_display",
        "answered_by",
        "sid_display",
        "claimed_at",
        "dial_started_at",
        "answered_at",
        "ended_at",
        "duration_seconds",
        "error_code",
        "error_message",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields

    def get_list_filter(self, request):
        return ["status", "outcome", RunFilter]

    @admin.display(description=_("call"), ordering="id")
    def id_display(self, call: OutboundCallJob):
        return ltr(f"#{call.pk}")

    @admin.display(description=_("run"), ordering="run")
    def run_display(self, call: OutboundCallJob):
        return run_link(call.run_id)

    @admin.display(description=_("lead"))
    def lead_display(self, call: OutboundCallJob):
        if call.lead_id is None:
            return _("(deleted)")
        return admin_link("admin:leads_lead_change", call.lead_id, ltr(f"#{call.lead_id}"))

    @admin.display(description=_("phone"), ordering="phone")
    def phone_display(self, call: OutboundCallJob):
        return ltr(call.phone)

    @admin.display(description=_("call SID"))
    def sid_display(self, call: OutboundCallJob):
        return ltr(call.call_sid or "")

    @admin.display(description=_("Twilio status"))
    def twilio_status_display(self, call: OutboundCallJob):
        return twilio_status_label(call.twilio_status)

    @admin.display(description=_("recording"))
    def recording_link(self, call: OutboundCallJob) -> str:
        player = recording_player_path(call)
        return format_html('<a href="{}">{}</a>', player, _("Listen")) if player else ""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        call = self.get_object(request, object_id)
        if call is not None:
            extra_context["title"] = format_html("{} {} {}", _("Call"), ltr(f"#{call.pk}"), ltr(call.phone))
            extra_context["console_crumb"] = extra_context["title"]
            extra_context["subtitle"] = None  # the title names the object already
            extra_context["player_url"] = recording_player_path(call)
            extra_context["attempts"] = call_attempt_rows(call)
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


def call_attempt_rows(call: OutboundCallJob) -> list[dict]:
    """Every dial of this call: its finished attempts from the call history, then the one in
    progress (it lives on the call row until it ends)."""
    rows = [
        {
            "number": attempt.attempt_number,
            "sid": attempt.call_sid,
            "status": twilio_status_label(attempt.twilio_status),
            "outcome": attempt.get_outcome_display(),
            "started_at": attempt.dial_started_at or attempt.claimed_at,
            "duration": attempt.duration_seconds,
        }
        for attempt in CallAttempt.objects.filter(call=call).order_by("attempt_number")
    ]
    if call.status in OutboundCallJob.ACTIVE_STATUSES:
        rows.append(
            {
                "number": call.attempts,
                "sid": call.call_sid,
                "status": twilio_status_label(call.twilio_status) if call.twilio_status else call.get_status_display(),
                "outcome": "",
                "started_at": call.dial_started_at or call.claimed_at,
                "duration": None,
            }
        )
    return rows


@admin.register(CallingHours)
class CallingHoursAdmin(TenantScopedAdmin):
    list_display = ["business_display", "hours_display"]
    list_select_related = ["business"]

    @admin.display(description=_("calling hours"))
    def hours_display(self, hours: CallingHours):
        return ltr(str(hours))

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


__all__ = ["CallsOfLeadInline", "OutboundCallJobAdmin", "OutboundCallRunAdmin"]
