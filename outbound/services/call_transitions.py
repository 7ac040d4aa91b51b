"""A call's state changes, one function each, each owning its statement.

A call (one lead of a run) goes

    queued -> dialing (claimed: holds a slot) -> calling (answered) -> completed / failed / canceled
       ^          |                                  |
       +----------+----------------------------------+  (a retry, a refused dial, a lost claim)

and skipped / canceled straight from queued. Each change below is one conditional
statement: its WHERE clause names the state it expects (the claim number, the status,
whether calls.create may have gone out), so a change that lost a race changes nothing
and says so. The (run, slot) partial unique index and the slot check hold the cap
whatever the code above them does.

Rows are read by column name (sql.rows_as), never by position.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import F
from django.utils import timezone

from outbound.models import OutboundCallJob
from outbound.services.sql import db_datetime, locking, row_as, row_update, rows_as

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
class DueCall:
    """A queued call whose time has come, as read under its row lock."""

    id: int
    claim_number: int
    phone: str
    dial_errors: int
    do_not_call: bool


@dataclass(frozen=True)
class Claim:
    """A call moved to "dialing" with a slot: what dialing it needs."""

    job_id: int
    run_id: int
    business_id: int
    claim_number: int
    phone: str
    dial_errors: int


@dataclass(frozen=True)
class LockedCall:
    """A call as read under its row lock, with the run settings a final report needs."""

    id: int
    run_id: int
    status: str
    claim_number: int
    call_sid: str | None
    last_sequence_number: int
    answered_by: str
    attempts: int
    error_message: str
    run_status: str
    run_max_attempts: int
    run_retry_delay_seconds: int
    run_cancel_requested: bool


# --- Claim (under the run row lock) -----------------------------------------------------


_DUE_CALLS = """
    SELECT j.id, j.claim_number, j.phone, j.dial_errors, COALESCE(l.do_not_call, FALSE) AS do_not_call
    FROM outbound_call_jobs j LEFT JOIN leads l ON l.id = j.lead_id
    WHERE j.run_id = %s AND j.status = %s AND j.next_attempt_at <= %s
    ORDER BY j.next_attempt_at, j.id LIMIT %s"""


def calls_due_lock(*, run_id: int, limit: int, now: datetime) -> list[DueCall]:
    """Lock and read up to `limit` due queued calls of the run, oldest first.

    The caller holds the run row lock, so no other filler of this run is here. SKIP
    LOCKED: a queued call locked elsewhere is being canceled or detached from its
    deleted lead; the next one will do.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _DUE_CALLS + locking("FOR UPDATE OF j SKIP LOCKED"), [run_id, CallStatus.QUEUED, db_datetime(now), limit]
        )
        return rows_as(cursor, DueCall)


_CLAIM = """
    UPDATE outbound_call_jobs SET status = %s, slot = %s, claim_number = %s, claimed_at = %s,
        dial_started_at = NULL, call_sid = NULL, last_sequence_number = -1, twilio_status = '', updated_at = %s
    WHERE id = %s"""


def call_claim(*, call: DueCall, run_id: int, business_id: int, slot: int, now: datetime) -> Claim:
    """Move a locked due call to "dialing" in `slot`, under a new claim number.

    Needs the run row lock (the slot was counted free under it) and the call's row lock
    (calls_due_lock). The new claim number travels in the callback URLs, so reports
    about an earlier attempt can never be taken for this one.
    """
    db_now = db_datetime(now)
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, [CallStatus.DIALING, slot, call.claim_number + 1, db_now, db_now, call.id])
    return Claim(
        job_id=call.id,
        run_id=run_id,
        business_id=business_id,
        claim_number=call.claim_number + 1,
        phone=call.phone,
        dial_errors=call.dial_errors,
    )


def call_skip_do_not_call(*, call: DueCall, now: datetime) -> None:
    """A due call whose lead must not be called ends without dialing. Needs its row lock."""
    OutboundCallJob.objects.filter(pk=call.id).update(
        status=CallStatus.SKIPPED, outcome=Outcome.DO_NOT_CALL, ended_at=now, updated_at=now
    )


# --- Dialing (no lock held: each statement checks the claim it belongs to) -------------


_DIAL_GATE = """
    UPDATE outbound_call_jobs SET dial_started_at = %s, attempts = attempts + 1
    WHERE id = %s AND claim_number = %s AND status = %s AND dial_started_at IS NULL"""


def call_dial_gate(*, claim: Claim, now: datetime) -> bool:
    """Pass the gate before calls.create: from here on the call may exist at Twilio.

    False when the claim was taken back first (the reconciler releases only claims that
    never passed the gate), so a lead is never dialed twice by accident.
    """
    with connection.cursor() as cursor:
        cursor.execute(_DIAL_GATE, [db_datetime(now), claim.job_id, claim.claim_number, CallStatus.DIALING])
        return cursor.rowcount == 1


_SID_RECORD = """
    UPDATE outbound_call_jobs SET call_sid = %s
    WHERE id = %s AND claim_number = %s AND call_sid IS NULL AND status <> %s"""


def call_sid_record(*, claim: Claim, call_sid: str) -> None:
    """Store the SID calls.create answered with, unless a callback was first and stored it
    already, or a final report requeued the call meanwhile."""
    with connection.cursor() as cursor:
        cursor.execute(_SID_RECORD, [call_sid, claim.job_id, claim.claim_number, CallStatus.QUEUED])


def call_dial_fail(*, claim: Claim, error: Exception) -> bool:
    """The number cannot be called (calls.create refused it for good): the call fails and
    frees its slot. Only this claim, before any SID: a later change wins."""
    now = timezone.now()
    return bool(
        OutboundCallJob.objects.filter(
            pk=claim.job_id, claim_number=claim.claim_number, status=CallStatus.DIALING, call_sid__isnull=True
        ).update(
            status=CallStatus.FAILED,
            outcome=Outcome.FAILED,
            slot=None,
            ended_at=now,
            error_code=_error_code(error),
            error_message=_error_message(error),
            updated_at=now,
        )
    )


def call_slot_release(
    *, job_id: int, claim_number: int, dial_started: bool, retry_at: datetime, error: Exception | None = None
) -> bool:
    """Give a claim's slot back and queue the call again for `retry_at`.

    For a dial Twilio refused (429, 5xx: `error`, counted for the backoff) and for claims
    the reconciler found lost. Only while the claim is unchanged, has no SID and is on
    the expected side of the dial gate; a call that never went out is no attempt.
    """
    changes = {
        "status": CallStatus.QUEUED,
        "slot": None,
        "attempts": F("attempts") - (1 if dial_started else 0),
        "dial_started_at": None,
        "next_attempt_at": retry_at,
        "updated_at": timezone.now(),
    }
    if error is not None:
        changes.update(
            dial_errors=F("dial_errors") + 1, error_code=_error_code(error), error_message=_error_message(error)
        )
    return bool(
        OutboundCallJob.objects.filter(
            pk=job_id,
            claim_number=claim_number,
            status=CallStatus.DIALING,
            call_sid__isnull=True,
            dial_started_at__isnull=not dial_started,
        ).update(**changes)
    )


def _error_code(error: Exception) -> str:
    return str(getattr(error, "code", "") or "")[:32]


def _error_message(error: Exception) -> str:
    return str(getattr(error, "message", "") or error)[:2000]


# --- Reports (under the call's row lock) ------------------------------------------------


_CALL_LOCK = """
    SELECT j.id, j.run_id, j.status, j.claim_number, j.call_sid, j.last_sequence_number, j.answered_by,
           j.attempts, j.error_message, r.status AS run_status, r.max_attempts AS run_max_attempts,
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
    no_flush_wait = ""
    if not wait_for_flush and connection.vendor == "postgresql":
        no_flush_wait = ", set_config('synchronous_commit', 'off', true) AS no_flush_wait"
    with connection.cursor() as cursor:
        cursor.execute(_CALL_LOCK.format(no_flush_wait=no_flush_wait) + locking("FOR UPDATE OF j"), [job_id])
        return row_as(cursor, LockedCall)


def _report_changes(*, call: LockedCall, report: CallReport, now: datetime) -> dict:
    changes = {"last_event_at": now, "twilio_status": report.status, "updated_at": now}
    if not call.call_sid:
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
    """The call ended: its slot is free, and the lead is either final with `outcome` or,
    when `retry`, queued again for the run's retry delay without a slot.

    Needs the call's row lock (call_lock). A cancel that races with a retry is caught by
    the next fill, which cancels the queued calls of a canceled run under its lock.
    """
    changes = _report_changes(call=call, report=report, now=now)
    changes.update(slot=None, ended_at=now)
    if report.duration is not None:
        changes["duration_seconds"] = report.duration
    if report.error_code:
        changes["error_code"] = report.error_code[:32]
    if report.error_message:
        changes["error_message"] = report.error_message
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
    row_update(OutboundCallJob, pk=call.id, changes=changes)


_FINAL_STATUS = {Outcome.FAILED: CallStatus.FAILED, Outcome.CANCELED: CallStatus.CANCELED}


# --- Cancelling --------------------------------------------------------------------------


def calls_queued_cancel(*, now: datetime, run_id: int | None = None, call_ids: list[int] | None = None) -> int:
    """Cancel the queued calls of a run, or of these calls. Returns how many.

    Callers hold what keeps new queued calls from being claimed meanwhile: the run row
    lock (a claim takes it), or the calls' own row locks (a claim skips locked calls).
    """
    calls = OutboundCallJob.objects.filter(status=CallStatus.QUEUED)
    if run_id is not None:
        calls = calls.filter(run_id=run_id)
    if call_ids is not None:
        calls = calls.filter(pk__any=call_ids)
    return calls.update(status=CallStatus.CANCELED, outcome=Outcome.CANCELED, ended_at=now, updated_at=now)


# --- Leads being deleted -----------------------------------------------------------------


def lead_calls_release_for_delete(*, business, lead_ids: list[int]) -> set[int]:
    """Before leads are deleted: keep those in a call now, detach the others from their calls.

    Returns the ids of leads that must not be deleted (a call of theirs is dialing or in
    progress). Queued calls of the others are canceled and every call row of theirs
    loses its lead link (phone and name stay), so a plain DELETE of those leads succeeds.
    """
    if not lead_ids:
        return set()
    wanted = set(lead_ids)
    found = [call_id for call_id, lead_id in _calls_near(business, lead_ids) if lead_id in wanted]
    if not found:
        return set()
    # Locking the calls of these leads makes a concurrent claim skip them (it uses
    # skip_locked), so none of them can start dialing between our look and our update;
    # status and lead are read again under the lock. A call inserted after our look makes
    # the DELETE fail its foreign key, and the batch is done again (leads_delete_batch).
    calls = [
        (call_id, lead_id, status)
        for call_id, lead_id, status in OutboundCallJob.objects.select_for_update()
        .filter(pk__any=found)
        .order_by("id")
        .values_list("id", "lead_id", "status")
        if lead_id in wanted
    ]
    keep = {lead_id for _id, lead_id, status in calls if status in ACTIVE}
    detach = [call_id for call_id, lead_id, _status in calls if lead_id not in keep]
    if detach:
        now = timezone.now()
        calls_queued_cancel(call_ids=detach, now=now)
        OutboundCallJob.objects.filter(pk__any=detach).update(lead=None, updated_at=now)
    return keep


def _calls_near(business, lead_ids: list[int]):
    """(call id, lead id) of the calls of these leads, and maybe of leads between them."""
    low, high = min(lead_ids), max(lead_ids)
    calls = OutboundCallJob.objects.filter(business=business)
    if high - low < 4 * len(lead_ids):
        # A bulk delete's batch is a dense id range: one index range scan finds its calls,
        # where probing the index for each of 20,000 ids costs more than the delete itself.
        calls = calls.filter(lead_id__gte=low, lead_id__lte=high)
    else:
        calls = calls.filter(lead_id__any=lead_ids)
    return calls.values_list("id", "lead_id")
