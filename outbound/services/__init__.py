"""Every write to runs and their calls, by concept: the call and run state changes
(call_transitions, run_transitions), the slot filler that drives them (dispatch), the
run controls (runs), Twilio's reports (callbacks), the reconciler (reconcile) and the
wake-ups that fill a run again when its next piece of work falls due (wakeups)."""

from outbound.services.call_reports import CallReport, call_opt_out_record
from outbound.services.call_transitions import lead_calls_release_for_delete
from outbound.services.callbacks import call_report_apply, call_status_callback_record
from outbound.services.dispatch import dial_pacer_wait, dispatch_fill, run_fill_slots
from outbound.services.reconcile import calls_reconcile, runs_tick
from outbound.services.run_transitions import run_fail_abandoned, run_finish
from outbound.services.runs import (
    NoLeadsSelected,
    calling_hours_changed,
    outbound_run_cancel,
    outbound_run_pause,
    outbound_run_resume,
    outbound_run_start,
)
from outbound.services.wakeups import run_fill_from_queue, run_wake, wakeup_pump, wakeups_fire

__all__ = [
    "CallReport",
    "NoLeadsSelected",
    "call_opt_out_record",
    "call_report_apply",
    "call_status_callback_record",
    "calling_hours_changed",
    "calls_reconcile",
    "dial_pacer_wait",
    "dispatch_fill",
    "lead_calls_release_for_delete",
    "outbound_run_cancel",
    "outbound_run_pause",
    "outbound_run_resume",
    "outbound_run_start",
    "run_fail_abandoned",
    "run_fill_from_queue",
    "run_fill_slots",
    "run_finish",
    "run_wake",
    "runs_tick",
    "wakeup_pump",
    "wakeups_fire",
]
