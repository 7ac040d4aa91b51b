"""Every write to runs and their calls, by concept: runs (start and control), dispatch
(filling slots, dialing, pacing), callbacks (Twilio's reports) and reconcile."""

from outbound.services.callbacks import CallReport, call_report_apply, call_status_callback_record
from outbound.services.dispatch import dial_pacer_wait, dispatch_fill, run_fill_slots, within_calling_hours
from outbound.services.reconcile import calls_reconcile, runs_tick
from outbound.services.runs import (
    NoLeadsSelected,
    lead_calls_release_for_delete,
    outbound_run_cancel,
    outbound_run_fail_abandoned,
    outbound_run_pause,
    outbound_run_resume,
    outbound_run_start,
)

__all__ = [
    "CallReport",
    "NoLeadsSelected",
    "call_report_apply",
    "call_status_callback_record",
    "calls_reconcile",
    "dial_pacer_wait",
    "dispatch_fill",
    "lead_calls_release_for_delete",
    "outbound_run_cancel",
    "outbound_run_fail_abandoned",
    "outbound_run_pause",
    "outbound_run_resume",
    "outbound_run_start",
    "run_fill_slots",
    "runs_tick",
    "within_calling_hours",
]
