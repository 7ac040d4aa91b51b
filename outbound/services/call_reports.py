"""What Twilio reports about a call, applied under the call's row lock: progress and
answered, the end of an attempt (kept as a CallAttempt row, the lead's outcome set, the
slot freed or the lead queued for a retry), and the callee opting out by keypress.

Each is one function owning its statement; rows are read by column name (sql.row_as).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from leads.models import DoNotCallNumber, Lead
from leads.services import do_not_call_number_add
from outbound.models import CallAttempt, OutboundCallJob
from outbound.services.sql import (
    db_datetime,
    execute_together,
    locking,
    no_flush_wait_column,
    row_as,
    row_update,
    row_update_statement,
    statement_cursor,
)

CallStatus = OutboundCallJob.Status
Outcome = OutboundCallJob.Outcome
ACTIVE = OutboundCallJob.ACTIVE_STATUSES


@dataclass(frozen=True)
class CallReport:
    """A call's state as Twilio reported it, from a callback or a fetch."""

    call_sid: str
    status: str
    sequence_number: int | None = None
    answered_by: str = ""
    duration: int | None = None
    error_code: str = ""
    error_message: str = ""


@dataclass(frozen=True)
class LockedCall:
    """A call as read under its row lock, with the run settings a final report needs."""

    id: int
    run_id: int
    business_id: int
    lead_id: int | None
    phone: str
    lead_name: str
    status: str
    outcome: str
    claim_number: int
    call_sid: str | None
    last_sequence_number: int
    answered_by: str
    attempts: int
    claimed_at: datetime | None
    dial_started_at: datetime | None
    answered_at: datetime | None
    error_code: str
    error_message: str
    run_status: str
    run_max_attempts: int
    run_retry_delay_seconds: int
    run_cancel_requested: bool


# --- Reports (under the call's row lock) ------------------------------------------------


_CALL_LOCK = """
    SELECT j.id, j.run_id, j.business_id, j.lead_id, j.phone, j.lead_name, j.status, j.outcome, j.claim_number,
           j.call_sid, j.last_sequence_number, j.answered_by, j.attempts, j.claimed_at, j.dial_started_at,
           j.answered_at, j.error_code, j.error_message, r.status AS run_status, r.max_attempts AS run_max_attempts,
           r.retry_delay_seconds AS run_retry_delay_seconds,
           r.cancel_requested_at IS NOT NULL AS run_cancel_requested{no_flush_wait}
    FROM outbound_call_jobs j JOIN outbound_call_runs r ON r.id = j.run_id
    WHERE j.id = %s"""


def call_lock(*, job_id: int, wait_for_flush: bool = True) -> LockedCall | None:
    """Lock a call's row for this transaction and read it. The row lock serialises
    callbacks, fetches and dial results of one call.

    The run's settings come with it, unlocked and as they were when the statement began
    (after waiting for the call's lock PostgreSQL reads the call again, not the run). A
    cancel or failure of the run that lands meanwhile is caught by the fill that follows
    every final report, which cancels the queued calls of such a run under the run lock.

    wait_for_flush=False lets this transaction commit without waiting for its WAL flush
    (PostgreSQL): a report lost to a database crash in the next few milliseconds costs
    nothing, as the reconciler fetches that call's state from Twilio, while every report
    of a call waits for the previous one's commit. Asked for in the same statement as the
    lock, it costs no round trip of its own.
    """
    sql, params = call_lock_statement(job_id=job_id, wait_for_flush=wait_for_flush)
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        return row_as(cursor, LockedCall)


def call_lock_statement(*, job_id: int, wait_for_flush: bool = True) -> tuple[str, list]:
    """call_lock's statement, for a caller that sends it with others (sql.execute_in_turn);
    its row is read with row_as(cursor, LockedCall)."""
    sql = _CALL_LOCK.format(no_flush_wait="" if wait_for_flush else no_flush_wait_column())
    return sql + locking("FOR UPDATE OF j"), [job_id]


def _report_changes(*, call: LockedCall, report: CallReport, now: datetime) -> dict:
    changes = {"last_event_at": now, "twilio_status": report.status, "updated_at": now}
    if not call.call_sid and report.call_sid:
        changes["call_sid"] = report.call_sid
    if report.sequence_number is not None:
        changes["last_sequence_number"] = report.sequence_number
    if report.answered_by:
        changes["answered_by"] = report.answered_by
    return changes


def call_progress_record(*, call: LockedCall, report: CallReport, answered: bool, now: datetime) -> None:
    """A report that does not end the call: its SID, sequence and Twilio status; when
    `answered`, a dialing call moves to "calling". Needs the call's row lock (call_lock)."""
    changes = _report_changes(call=call, report=report, now=now)
    if answered and call.status == CallStatus.DIALING:
        changes.update(status=CallStatus.CALLING, answered_at=now)
    row_update(OutboundCallJob, pk=call.id, changes=changes)


def call_end(*, call: LockedCall, report: CallReport, outcome: str, retry: bool, now: datetime) -> None:
    """The attempt ended: it is kept as a CallAttempt row, the slot is free, and the lead
    is either final with `outcome` (its own last outcome set, a person who answered makes
    a new lead "contacted") or, when `retry`, queued again for the run's retry delay.

    Needs the call's row lock (call_lock). The attempt, the lead and the call change in
    one statement on PostgreSQL (execute_together), so ending a call costs no round trip
    more than freeing its slot did. A cancel that races with a retry is caught by the next
    fill, which cancels the queued calls of a canceled run under its lock.
    """
    changes = _report_changes(call=call, report=report, now=now)
    changes.update(slot=None, ended_at=now)
    if report.duration is not None:
        changes["duration_seconds"] = report.duration
    if report.error_code:
        changes["error_code"] = report.error_code[:32]
    if report.error_message:
        changes["error_message"] = report.error_message
    statements = []
    if call.attempts:  # a call was placed: this is an attempt of its own
        statements.append(_attempt_insert(call=call, report=report, outcome=outcome, now=now))
    if retry:
        changes.update(
            status=CallStatus.QUEUED,
            outcome="",
            call_sid=None,
            next_attempt_at=now + timedelta(seconds=call.run_retry_delay_seconds),
            error_message=report.error_message or call.error_message or report.status,
        )
    else:
        changes.update(status=_FINAL_STATUS.get(outcome, CallStatus.COMPLETED), outcome=outcome)
        if call.lead_id is not None and call.attempts:
            statements.append(_lead_outcome_update(call=call, outcome=outcome, now=now))
    statements.append(row_update_statement(OutboundCallJob, pk=call.id, changes=changes))
    execute_together(statements)


_ATTEMPT_INSERT = """
    INSERT INTO outbound_call_attempts (business_id, run_id, call_id, lead_id, phone, lead_name, attempt_number,
        claim_number, call_sid, claimed_at, dial_started_at, answered_at, ended_at, duration_seconds,
        twilio_status, answered_by, outcome, error_code, error_message)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT DO NOTHING"""


def _attempt_insert(*, call: LockedCall, report: CallReport, outcome: str, now: datetime) -> tuple[str, list]:
    # ON CONFLICT DO NOTHING: an attempt is written once; should a report ever end the
    # same attempt twice, failing the callback would only leave its slot taken.
    return _ATTEMPT_INSERT, [
        call.business_id,
        call.run_id,
        call.id,
        call.lead_id,
        call.phone,
        call.lead_name,
        call.attempts,
        call.claim_number,
        call.call_sid or report.call_sid or None,
        db_datetime(call.claimed_at),
        db_datetime(call.dial_started_at),
        db_datetime(call.answered_at),
        db_datetime(now),
        report.duration,
        report.status,
        (report.answered_by or call.answered_by)[:32],
        outcome,
        (report.error_code or call.error_code)[:32],
        report.error_message or call.error_message,
    ]


_LEAD_OUTCOME = """
    UPDATE leads SET last_outcome = %s, last_called_at = %s, call_attempts = call_attempts + %s,
        status = CASE WHEN status = %s AND %s THEN %s ELSE status END, updated_at = %s
    WHERE id = %s"""


def _lead_outcome_update(*, call: LockedCall, outcome: str, now: datetime) -> tuple[str, list]:
    # A lead deleted meanwhile is simply not found; its attempts keep its phone and name.
    db_now = db_datetime(now)
    answered = outcome in (Outcome.ANSWERED, Outcome.OPTED_OUT)  # a person picked up
    return _LEAD_OUTCOME, [
        outcome,
        db_now,
        call.attempts,
        Lead.Status.NEW,
        answered,
        Lead.Status.CONTACTED,
        db_now,
        call.lead_id,
    ]


_FINAL_STATUS = {
    Outcome.FAILED: CallStatus.FAILED,
    Outcome.INVALID_NUMBER: CallStatus.FAILED,
    Outcome.CANCELED: CallStatus.CANCELED,
}


# --- Opting out --------------------------------------------------------------------------


def call_opt_out_record(*, job_id: int, claim_number: int | None) -> bool:
    """The callee pressed the opt-out key: the number goes on the business's do-not-call
    list at once (no run of the business dials it again, even one in progress: every
    claim checks the list), and the attempt's outcome is "opted_out".

    Under the call's row lock, like every report: the final status callback that follows
    reads the mark and ends the attempt opted_out. Should that callback have come first
    (reordered), the attempt already written, the call and the lead are corrected here.
    False when the call is unknown.
    """
    with transaction.atomic():
        call = call_lock(job_id=job_id)
        if call is None:
            return False
        do_not_call_number_add(business_id=call.business_id, phone=call.phone, source=DoNotCallNumber.Source.KEYPRESS)
        if claim_number is not None and claim_number != call.claim_number:
            return True  # an earlier attempt's gather: the number is listed, nothing else is its to change
        if call.status in ACTIVE:
            OutboundCallJob.objects.filter(pk=call.id).update(outcome=Outcome.OPTED_OUT, updated_at=timezone.now())
        elif call.status == CallStatus.COMPLETED:
            OutboundCallJob.objects.filter(pk=call.id).update(outcome=Outcome.OPTED_OUT, updated_at=timezone.now())
            CallAttempt.objects.filter(call_id=call.id, claim_number=call.claim_number).update(
                outcome=Outcome.OPTED_OUT
            )
            if call.lead_id is not None:
                Lead.objects.filter(pk=call.lead_id).update(last_outcome=Outcome.OPTED_OUT)
    return True
