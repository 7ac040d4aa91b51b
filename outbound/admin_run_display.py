"""How a run reads on the console: its state in Hebrew, its outcomes as labels, in brief
for the runs list and in full for the dashboard, and the buttons valid in its state."""

from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from outbound import selectors
from outbound.models import OutboundCallRun

RunStatus = OutboundCallRun.Status

OUTCOME_LABELS = {
    "answered": _("Answered"),
    "busy": _("Busy"),
    "no_answer": _("No answer"),
    "machine": _("Answering machine"),
    "failed": _("Failed"),
    "invalid_number": _("Invalid number"),
    "do_not_call": _("Do not call"),
    "opted_out": _("Opted out"),
    "canceled": pgettext_lazy("call outcome", "Cancelled"),
}

# Twilio's call statuses (https://www.twilio.com/docs/voice/api/call-resource#call-status-values).
TWILIO_STATUS_LABELS = {
    "queued": _("Queued at Twilio"),
    "initiated": _("Initiated"),
    "ringing": _("Ringing"),
    "in-progress": _("In progress"),
    "completed": _("Completed"),
    "busy": _("Busy"),
    "no-answer": _("No answer"),
    "failed": _("Failed"),
    "canceled": pgettext_lazy("call outcome", "Cancelled"),
}


def twilio_status_label(status: str) -> str:
    if not status:
        return "-"
    return str(TWILIO_STATUS_LABELS.get(status, status))


class RunStatusLabels:
    @staticmethod
    def of(run: OutboundCallRun) -> str:
        if run.is_active and run.cancel_requested_at:
            return str(_("Cancelling: the calls in progress finish"))
        return str(run.get_status_display())


def brief_outcomes(counts: dict[str, int]):
    """ "Answered 12 · Busy 3 · Cancelled 17": only the outcomes that happened."""
    shown = [(OUTCOME_LABELS[key], counts[key]) for key in selectors.OUTCOME_KEYS if counts[key]]
    if not shown:
        return "-"
    return format_html_join(" · ", '<span class="outcome">{} <bdi dir="ltr">{}</bdi></span>', shown)


def valid_controls(run: OutboundCallRun) -> list[str]:
    if not run.is_active or run.cancel_requested_at:
        return []
    if run.status == RunStatus.RUNNING:
        return ["pause", "cancel"]
    if run.status == RunStatus.PAUSED:
        return ["resume", "cancel"]
    return ["cancel"]


CONTROL_LABELS = {"pause": _("Pause"), "resume": _("Resume"), "cancel": _("Cancel the run…")}


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def dashboard_context(request, run: OutboundCallRun) -> dict:
    dashboard = selectors.run_dashboard(run=run)
    outcomes = [
        {"key": key, "label": OUTCOME_LABELS[key], "count": dashboard["outcomes"][key]}
        for key in selectors.OUTCOME_KEYS
    ]
    rate = dashboard["answer_rate"]
    in_progress = [
        {**call, "state": call["status"] and str(_("Dialing") if call["status"] == "dialing" else _("In a call"))}
        for call in dashboard["in_progress"]
    ]
    can_change = request.user.has_perm("outbound.change_outboundcallrun")
    controls = [
        {
            "action": action,
            "label": CONTROL_LABELS[action],
            "url": reverse("admin:outbound_outboundcallrun_control", args=[run.pk, action]),
        }
        for action in (valid_controls(run) if can_change else [])
    ]
    return {
        "run": run,
        "dashboard": dashboard,
        "dashboard_outcomes": outcomes,
        "answer_rate_text": f"{rate * 100:.0f}%" if rate is not None else "-",
        "in_progress_calls": in_progress,
        "state_label": RunStatusLabels.of(run),
        "elapsed_text": _duration(dashboard["elapsed_seconds"]),
        "eta_text": _duration(dashboard["eta_seconds"]),
        "controls": controls,
        "live": run.is_active,
        "dashboard_url": reverse("admin:outbound_outboundcallrun_dashboard", args=[run.pk]),
        "calls_url": reverse("admin:outbound_outboundcalljob_changelist") + f"?run__id__exact={run.pk}",
    }
