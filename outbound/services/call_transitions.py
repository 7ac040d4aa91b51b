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

The reports Twilio sends about a placed call (progress, the end of an attempt, an
opt-out) are in call_reports. Rows are read by column name (sql.rows_as), never by position.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from callcenter import twilio_gateway
from outbound.models import CallAttempt, OutboundCallJob
from outbound.services.call_reports import CallReport, call_end, call_lock
from outbound.services.sql import db_datetime, locking, no_flush_wait_from, rows_as, statement_cursor

CallStatus = OutboundCallJob.Status
Outcome = OutboundCallJob.Outcome
ACTIVE = OutboundCallJob.ACTIVE_STATUSES


@dataclass(frozen=True)
class DueCall:
    """A queued call whose time has come, as read under its row lock."""

    id: int
    claim_number: int
    phone: str
    time_zone: str
    dial_errors: int
    do_not_call: bool
    due_at: datetime | str  # its next_attempt_at (SQLite answers text)


@dataclass(frozen=True)
class Claim:
    """A call moved to "dialing" with a slot: what dialing it needs."""

    job_id: int
    run_id: int
    business_id: int
    claim_number: int
    phone: str
    dial_errors: int
    slot: int
    claimed_at: datetime


# --- Claim (under the run row lock) -----------------------------------------------------


# do_not_call: the lead's own flag, or the number on the business's do-not-call list
# (an opt-out pressed during another call of a run still in progress counts at once).
_DUE_CALLS = """
    SELECT j.id, j.claim_number, j.phone, j.time_zone, j.dial_errors, j.next_attempt_at AS due_at,
           COALESCE((SELECT l.do_not_call FROM leads l WHERE l.id = j.lead_id), FALSE) OR EXISTS (
               SELECT 1 FROM do_not_call_numbers d WHERE d.business_id = j.business_id AND d.phone = j.phone
           ) AS do_not_call
    FROM outbound_call_jobs j
    WHERE j.run_id = %s AND j.status = %s AND j.next_attempt_at <= %s
    ORDER BY j.next_attempt_at, j.id LIMIT %s"""


def calls_due_lock(*, run_id: int, limit: int, now: datetime) -> list[DueCall]:
    """Lock and read up to `limit` due queued calls of the run, oldest first.

    The caller holds the run row lock, so no other filler of this run is here. SKIP
    LOCKED: a queued call locked elsewhere is being canceled or detached from its
    deleted lead; the next one will do.
    """
    sql, params = calls_due_lock_statement(run_id=run_id, limit=limit, now=now)
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        return rows_as(cursor, DueCall)


def calls_due_lock_statement(*, run_id: int, limit: int, now: datetime) -> tuple[str, list]:
    """calls_due_lock's statement, for a caller that sends it with others (sql.execute_in_turn);
    its rows are read with rows_as(cursor, DueCall)."""
    return _DUE_CALLS + locking("FOR UPDATE OF j SKIP LOCKED"), [run_id, CallStatus.QUEUED, db_datetime(now), limit]


_CLAIM = """
    UPDATE outbound_call_jobs SET status = %s, slot = %s, claim_number = %s, claimed_at = %s,
        dial_started_at = NULL, call_sid = NULL, last_sequence_number = -1, twilio_status = '',
        waiting_for_hours = FALSE, updated_at = %s{no_flush_wait}
    WHERE id = %s"""


def call_claim(*, call: DueCall, run_id: int, business_id: int, slot: int, now: datetime) -> Claim:
    """Move a locked due call to "dialing" in `slot`, under a new claim number.

    Needs the run row lock (the slot was counted free under it) and the call's row lock
    (calls_due_lock). The new claim number travels in the callback URLs, so reports
    about an earlier attempt can never be taken for this one.

    The fill's transaction then commits without waiting for its WAL flush (PostgreSQL):
    nothing outside the database acts on a claim before the dial gate, whose commit waits
    for the flush, and the log is flushed in order, so the claim is on disk before any
    calls.create. A claim lost with a crash before that leaves its call queued, and the
    gate, finding no such claim, lets nothing be dialed. Whatever else the transaction
    did (a heartbeat, leads skipped or sent to wait for their hours) the next fill redoes.
    """
    db_now = db_datetime(now)
    sql = _CLAIM.format(no_flush_wait=no_flush_wait_from())
    with statement_cursor() as cursor:
        cursor.execute(sql, [CallStatus.DIALING, slot, call.claim_number + 1, db_now, db_now, call.id])
    return Claim(
        job_id=call.id,
        run_id=run_id,
        business_id=business_id,
        claim_number=call.claim_number + 1,
        phone=call.phone,
        dial_errors=call.dial_errors,
        slot=slot,
        claimed_at=now,
    )


def call_skip_do_not_call(*, call: DueCall, now: datetime) -> None:
    """A due call whose lead must not be called ends without dialing. Needs its row lock."""
    OutboundCallJob.objects.filter(pk=call.id).update(
        status=CallStatus.SKIPPED, outcome=Outcome.DO_NOT_CALL, ended_at=now, updated_at=now
    )


def call_wait_for_hours(*, call: DueCall, until: datetime) -> None:
    """A due call outside its lead's calling hours stays queued, without a slot, until
    its window opens; the due-calls index then skips it. Needs its row lock."""
    OutboundCallJob.objects.filter(pk=call.id).update(
        next_attempt_at=until, waiting_for_hours=True, updated_at=timezone.now()
    )


def calls_waiting_for_hours_due(*, business_id: int, now: datetime) -> set[int]:
    """The business's calling hours changed: its calls waiting for the old hours are due
    now, so the next fill weighs each against the new ones (and sends it back to wait if
    still outside). Returns the ids of their runs.

    No lock needed: a call waiting is queued and out of every fill's due set until now;
    a fill that claims it meanwhile clears the flag in its own update, and this one then
    leaves it alone (its WHERE names the flag).
    """
    waiting = OutboundCallJob.objects.filter(business_id=business_id, status=CallStatus.QUEUED, waiting_for_hours=True)
    run_ids = set(waiting.values_list("run_id", flat=True).distinct())
    waiting.update(next_attempt_at=now, waiting_for_hours=False, updated_at=now)
    return run_ids


# --- Dialing (no lock held: each statement checks the claim it belongs to) -------------


_DIAL_GATE = """
    UPDATE outbound_call_jobs SET dial_started_at = %s, attempts = attempts + 1
    WHERE id = %s AND claim_number = %s AND status = %s AND dial_started_at IS NULL"""


def call_dial_gate(*, claim: Claim, now: datetime) -> bool:
    """Pass the gate before calls.create: from here on the call may exist at Twilio.

    False when the claim was taken back first (the reconciler releases only claims that
    never passed the gate), so a lead is never dialed twice by accident.
    """
    with statement_cursor() as cursor:
        cursor.execute(_DIAL_GATE, [db_datetime(now), claim.job_id, claim.claim_number, CallStatus.DIALING])
        return cursor.rowcount == 1


_SID_RECORD = """
    UPDATE outbound_call_jobs SET call_sid = %s{no_flush_wait}
    WHERE id = %s AND claim_number = %s AND call_sid IS NULL AND status <> %s"""


def call_sid_record(*, claim: Claim, call_sid: str) -> bool:
    """Store the SID calls.create answered with, unless a callback was first and stored it
    already, or a final report requeued the call meanwhile. True when it was stored.

    Not waiting for the WAL flush (PostgreSQL): should a database crash lose it in the next
    few milliseconds, nothing is dialed twice, as the dial gate before calls.create was
    flushed; every callback of the call brings its SID (call_reports), and a call nothing
    is heard of is looked up in Twilio's call list by the reconciler, as for a calls.create
    without an answer. A row lock is no part of it: the claim number and the SID in the
    WHERE clause decide. Inside a caller's transaction it would apply to all of that
    transaction's changes, so there it waits like any commit.
    """
    sql = _SID_RECORD.format(no_flush_wait="" if connection.in_atomic_block else no_flush_wait_from())
    with statement_cursor() as cursor:
        cursor.execute(sql, [call_sid, claim.job_id, claim.claim_number, CallStatus.QUEUED])
        return cursor.rowcount == 1


# Twilio's codes for a number that cannot be called at all.
_INVALID_NUMBER_CODES = {"13224", "21211", "21214", "21217", "21401"}


def call_dial_fail(*, claim: Claim, error: Exception) -> bool:
    """calls.create refused the number for good: the attempt ends failed (invalid_number
    for a number that cannot exist) and frees its slot. Only this claim, before any SID,
    under the call's row lock like every report: a change that came first wins."""
    code = _error_code(error)
    # No call exists at Twilio: no SID and no Twilio status, only its error.
    report = CallReport(call_sid="", status="", error_code=code, error_message=_error_message(error))
    outcome = Outcome.INVALID_NUMBER if code in _INVALID_NUMBER_CODES else Outcome.FAILED
    with transaction.atomic():
        call = call_lock(job_id=claim.job_id)
        if call is None or call.claim_number != claim.claim_number or call.status != CallStatus.DIALING:
            return False
        if call.call_sid:
            return False
        call_end(call=call, report=report, outcome=outcome, retry=False, now=timezone.now())
    return True


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


def calls_ringing_cancel_on_commit(*, run_id: int) -> None:
    """Once this transaction commits, cancel at Twilio the run's calls that ring and nobody
    has answered yet (dialing, with a SID). Twilio's callbacks then end them by the usual
    forward-only rules; a call answered meanwhile goes on, as Twilio leaves it alone."""
    ringing = list(
        OutboundCallJob.objects.filter(run_id=run_id, status=CallStatus.DIALING, call_sid__isnull=False).values_list(
            "call_sid", flat=True
        )
    )
    if ringing:
        transaction.on_commit(partial(twilio_gateway.calls_cancel, call_sids=ringing))


# --- Leads being deleted -----------------------------------------------------------------


def lead_calls_release_for_delete(*, business, lead_ids: list[int]) -> set[int]:
    """Before leads are deleted: keep those in a call now, detach the others from their calls.

    Returns the ids of leads that must not be deleted (a call of theirs is dialing or in
    progress). Queued calls of the others are canceled and every call and attempt row of
    theirs loses its lead link (phone and name stay), so a plain DELETE of those leads succeeds.
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
        # Their attempts stay in the runs' reports, with the phone and name they were called as.
        CallAttempt.objects.filter(call_id__any=detach).update(lead=None)
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
