"""Filling a run's slots: claim under the run row lock, dial outside it.

A claim moves queued calls to "dialing" with a free slot in one short transaction; the
partial unique index on (run, slot) and the slot check make a fourth active call of a run
impossible whatever the code above does. Twilio is called only after that commit, after
the account pacer has given this dial its send time.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dt_time
from functools import partial
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from callcenter import twilio_gateway
from callcenter.models import BackgroundJob
from callcenter.services import background_job_finish
from outbound.models import CallingHours, DialPacer, OutboundCallJob, OutboundCallRun
from outbound.services.sql import db_datetime, locking

logger = logging.getLogger(__name__)

RunStatus = OutboundCallRun.Status
CallStatus = OutboundCallJob.Status
Outcome = OutboundCallJob.Outcome
ACTIVE = OutboundCallJob.ACTIVE_STATUSES
# A running run's job is heartbeaten at most this often by its fills, so that a long
# run is never taken for an abandoned one.
HEARTBEAT_EVERY = timedelta(seconds=30)


@dataclass(frozen=True)
class Claim:
    job_id: int
    run_id: int
    business_id: int
    claim_number: int
    phone: str
    dial_errors: int


def dispatch_fill(run_id: int) -> None:
    """Fill the run's slots now (inline) or on a worker (queue), per OUTBOUND_DISPATCH."""
    if settings.OUTBOUND_DISPATCH == "inline":
        run_fill_slots(run_id=run_id)
    else:
        # save=False: a successful fill leaves no task result. There is one per finished
        # call, and with save_limit set django-q2 reads every stored success (up to the
        # limit, under a lock) to prune them each time it saves one; the run and its calls
        # already say what each fill did. A failed fill is still saved.
        async_task("outbound.tasks.fill_slots", run_id, task_name=f"outbound-fill-{run_id}", save=False)


def dispatch_fill_on_commit(run_id: int) -> None:
    transaction.on_commit(partial(dispatch_fill, run_id))


def run_fill_slots(*, run_id: int) -> int:
    """Start as many due calls as the run has free slots. Returns how many claims were dialed.

    Safe to call from any number of processes at once. A number that cannot be called
    frees its slot at once, so we claim again until a round fails no number. A refused
    dial (429, 5xx) waits for its backoff instead: dialing others at once would be refused too.
    """
    dialed = 0
    while True:
        claims = _claim_due_calls(run_id=run_id)
        freed = 0
        for claim in claims:
            if _dial(claim):
                freed += 1
            else:
                dialed += 1
        if not freed:
            return dialed


# The run row lock, with what a fill needs of the run, its job, business and hours.
_RUN_LOCK = """
    SELECT r.status, r.concurrency, r.total_leads, r.business_id, r.background_job_id,
           r.cancel_requested_at IS NOT NULL, bj.cancel_requested_at IS NOT NULL, bj.heartbeat_at <= %s,
           b.time_zone, h.start, h."end"
    FROM outbound_call_runs r
    JOIN background_jobs bj ON bj.id = r.background_job_id
    JOIN businesses b ON b.id = r.business_id
    LEFT JOIN outbound_calling_hours h ON h.business_id = r.business_id
    WHERE r.id = %s"""
_USED_SLOTS = "SELECT slot FROM outbound_call_jobs WHERE run_id = %s AND status IN ({})".format(  # noqa: S608
    ", ".join(["%s"] * len(ACTIVE))  # one placeholder per active status
)
# The due calls, oldest first. skip_locked: a queued call locked elsewhere is being
# cancelled or detached from its deleted lead; the next one will do.
_DUE_CALLS = """
    SELECT j.id, j.claim_number, j.phone, j.dial_errors, l.do_not_call
    FROM outbound_call_jobs j LEFT JOIN leads l ON l.id = j.lead_id
    WHERE j.run_id = %s AND j.status = %s AND j.next_attempt_at <= %s
    ORDER BY j.next_attempt_at, j.id LIMIT %s"""
_CLAIM = """
    UPDATE outbound_call_jobs SET status = %s, slot = %s, claim_number = %s, claimed_at = %s,
        dial_started_at = NULL, call_sid = NULL, last_sequence_number = -1, twilio_status = '', updated_at = %s
    WHERE id = %s"""


@dataclass(frozen=True)
class _LockedRun:
    status: str
    concurrency: int
    total_leads: int
    business_id: int
    background_job_id: int
    cancel_requested: bool
    job_cancel_requested: bool
    heartbeat_due: bool
    time_zone: str
    hours_start: dt_time | None
    hours_end: dt_time | None


def _claim_due_calls(*, run_id: int) -> list[Claim]:
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        # The run row lock serialises every filler of this run, so counting the free slots
        # and taking them is one step; pause / resume / cancel take the same lock.
        cursor.execute(_RUN_LOCK + locking("FOR UPDATE OF r"), [db_datetime(now - HEARTBEAT_EVERY), run_id])
        row = cursor.fetchone()
        if row is None:
            return []
        run = _LockedRun(*row)
        if run.status not in OutboundCallRun.ACTIVE_STATUSES:
            _cancel_queued_calls(run_id=run_id, now=now)
            return []
        # Only the active calls: a fill stays cheap however many leads the run has.
        cursor.execute(_USED_SLOTS, [run_id, *ACTIVE])
        used_slots = {slot for (slot,) in cursor.fetchall()}
        active = len(used_slots)
        if run.heartbeat_due:
            _heartbeat(run_id=run_id, run=run, now=now)
        cancel_requested = run.cancel_requested
        if not cancel_requested and run.job_cancel_requested:
            # Cancelled through the jobs API (POST /api/jobs/{id}/cancel): same as cancelling the run.
            OutboundCallRun.objects.filter(pk=run_id).update(cancel_requested_at=now)
            cancel_requested = True
        if cancel_requested:
            _cancel_queued_calls(run_id=run_id, now=now)
            if not active:
                run_finish(run=_run_for_finish(run_id), status=RunStatus.CANCELLED, message=_("Cancelled on request."))
            return []
        free_slots = [slot for slot in range(1, run.concurrency + 1) if slot not in used_slots]
        claims = []
        if (
            free_slots
            and run.status == RunStatus.RUNNING
            and _within_hours(start=run.hours_start, end=run.hours_end, time_zone=run.time_zone, at=now)
        ):
            claims = _claim_into(cursor, run_id=run_id, business_id=run.business_id, free_slots=free_slots, now=now)
        # Whether anything is still queued is only asked when it can end the run: a claim
        # already proves it, and an active call keeps the run going anyway.
        if (
            not claims
            and not active
            and not OutboundCallJob.objects.filter(run_id=run_id, status=CallStatus.QUEUED).exists()
        ):
            run_finish(run=_run_for_finish(run_id), status=RunStatus.SUCCEEDED)
        return claims


def _run_for_finish(run_id: int) -> OutboundCallRun:
    return OutboundCallRun.objects.select_related("background_job").get(pk=run_id)


def _claim_into(cursor, *, run_id: int, business_id: int, free_slots: list[int], now: datetime) -> list[Claim]:
    claims: list[Claim] = []
    db_now = db_datetime(now)
    while free_slots:
        cursor.execute(
            _DUE_CALLS + locking("FOR UPDATE OF j SKIP LOCKED"), [run_id, CallStatus.QUEUED, db_now, len(free_slots)]
        )
        candidates = cursor.fetchall()
        if not candidates:
            break
        for job_id, claim_number, phone, dial_errors, do_not_call in candidates:
            if do_not_call:
                OutboundCallJob.objects.filter(pk=job_id).update(
                    status=CallStatus.SKIPPED, outcome=Outcome.DO_NOT_CALL, ended_at=now, updated_at=now
                )
                continue
            slot = free_slots.pop(0)
            cursor.execute(_CLAIM, [CallStatus.DIALING, slot, claim_number + 1, db_now, db_now, job_id])
            claims.append(
                Claim(
                    job_id=job_id,
                    run_id=run_id,
                    business_id=business_id,
                    claim_number=claim_number + 1,
                    phone=phone,
                    dial_errors=dial_errors,
                )
            )
    return claims


def _heartbeat(*, run_id: int, run: _LockedRun, now: datetime) -> None:
    done = OutboundCallJob.objects.filter(run_id=run_id, status__in=OutboundCallJob.FINAL_STATUSES).count()
    BackgroundJob.objects.filter(pk=run.background_job_id, status__in=BackgroundJob.ACTIVE_STATUSES).update(
        heartbeat_at=now, progress_done=done, progress_total=run.total_leads
    )


def _cancel_queued_calls(*, run_id: int, now: datetime) -> int:
    return OutboundCallJob.objects.filter(run_id=run_id, status=CallStatus.QUEUED).update(
        status=CallStatus.CANCELED, outcome=Outcome.CANCELED, ended_at=now, updated_at=now
    )


def run_finish(*, run: OutboundCallRun, status: str, message: str = "") -> None:
    """Finish a locked run and its background job together."""
    from outbound.selectors import call_status_counts

    now = timezone.now()
    run.status = status
    run.finished_at = now
    run.message = message or run.message
    run.save(update_fields=["status", "finished_at", "message"])
    counts = call_status_counts(run_id=run.pk)
    BackgroundJob.objects.filter(pk=run.background_job_id).update(progress_done=run.total_leads)
    background_job_finish(job=run.background_job, status=status, message=message, result={"calls": counts})


def within_calling_hours(*, business, at: datetime) -> bool:
    """Whether `at` falls inside the calling hours in the business's own time zone: its own
    CallingHours if it has them, otherwise OUTBOUND_CALLING_HOURS_START/END (unset: always)."""
    try:
        own = business.calling_hours
    except CallingHours.DoesNotExist:
        own = None
    return _within_hours(
        start=own.start if own else None, end=own.end if own else None, time_zone=business.time_zone, at=at
    )


def _within_hours(*, start: dt_time | None, end: dt_time | None, time_zone: str, at: datetime) -> bool:
    """`start` / `end` are the business's own hours (both or neither), else the settings apply."""
    if start is not None and end is not None:
        start_text, end_text = start.strftime("%H:%M"), end.strftime("%H:%M")
    else:
        start_text, end_text = settings.OUTBOUND_CALLING_HOURS_START, settings.OUTBOUND_CALLING_HOURS_END
    if not start_text or not end_text:
        return True
    local = at.astimezone(ZoneInfo(time_zone or settings.TIME_ZONE)).strftime("%H:%M")
    if start_text <= end_text:
        return start_text <= local < end_text
    return local >= start_text or local < end_text  # hours that span midnight


# --- Dialing (no lock held) -----------------------------------------------------------


_DIAL_GATE = """
    UPDATE outbound_call_jobs SET dial_started_at = %s, attempts = attempts + 1
    WHERE id = %s AND claim_number = %s AND status = %s AND dial_started_at IS NULL"""
_DIAL_SID = """
    UPDATE outbound_call_jobs SET call_sid = %s
    WHERE id = %s AND claim_number = %s AND call_sid IS NULL AND status <> %s"""


def _dial(claim: Claim) -> bool:
    """Place the claimed call. True when the number failed for good and the slot is free again."""
    dial_pacer_wait()
    # The gate: from this update on the call may exist at Twilio. The reconciler only
    # takes back claims that never passed it, so a lead cannot be dialed twice by accident.
    with connection.cursor() as cursor:
        cursor.execute(_DIAL_GATE, [db_datetime(timezone.now()), claim.job_id, claim.claim_number, CallStatus.DIALING])
        passed = cursor.rowcount
    if not passed:
        logger.info("Call %s: claim %s was taken back before dialing", claim.job_id, claim.claim_number)
        return False
    try:
        call = twilio_gateway.call_create(**_call_create_arguments(claim))
    except twilio_gateway.PermanentTwilioError as error:
        logger.warning("Call %s to %s failed permanently: %s", claim.job_id, claim.phone, error)
        return _dial_failed(claim=claim, error=error)
    except twilio_gateway.TwilioGatewayError as error:
        if error.http_status is None:
            # No answer from Twilio: the call may or may not exist. Keep the slot; the
            # reconciler looks the call up before anything is dialed again.
            logger.warning("Call %s: calls.create got no answer (%s); left to the reconciler", claim.job_id, error)
            return False
        logger.warning("Call %s: calls.create refused (%s); requeued with backoff", claim.job_id, error)
        _dial_rejected(claim=claim, error=error)
        return False
    # A callback may have been first and stored the sid already (or requeued the call).
    with connection.cursor() as cursor:
        cursor.execute(_DIAL_SID, [call.sid, claim.job_id, claim.claim_number, CallStatus.QUEUED])
    return False


def _call_create_arguments(claim: Claim) -> dict:
    query = f"job_id={claim.job_id}&claim={claim.claim_number}"
    arguments = {
        "to": claim.phone,
        "twiml_url": twilio_gateway.public_url(f"/webhooks/twilio/voice?{query}"),
        "status_callback_url": twilio_gateway.public_url(f"/webhooks/twilio/call-status?{query}"),
        "machine_detection": settings.OUTBOUND_MACHINE_DETECTION,
        "ring_timeout_seconds": settings.OUTBOUND_RING_TIMEOUT_SECONDS,
    }
    if settings.OUTBOUND_RECORD_CALLS:
        arguments["record"] = True
        arguments["recording_status_callback_url"] = twilio_gateway.public_url(
            f"/webhooks/twilio/recording-status?business_id={claim.business_id}"
        )
    return arguments


def _dial_failed(*, claim: Claim, error: Exception) -> bool:
    """The number cannot be called: fail the call and free its slot."""
    return bool(
        OutboundCallJob.objects.filter(
            pk=claim.job_id, claim_number=claim.claim_number, status=CallStatus.DIALING, call_sid__isnull=True
        ).update(
            status=CallStatus.FAILED,
            outcome=Outcome.FAILED,
            slot=None,
            ended_at=timezone.now(),
            error_code=str(getattr(error, "code", "") or ""),
            error_message=str(getattr(error, "message", "") or error)[:2000],
            updated_at=timezone.now(),
        )
    )


def _dial_rejected(*, claim: Claim, error: Exception) -> bool:
    """Twilio refused to place the call (429, 5xx): free the slot and try later."""
    delay = min(
        settings.OUTBOUND_DIAL_BACKOFF_SECONDS * (2**claim.dial_errors), settings.OUTBOUND_DIAL_BACKOFF_MAX_SECONDS
    )
    now = timezone.now()
    return bool(
        OutboundCallJob.objects.filter(
            pk=claim.job_id, claim_number=claim.claim_number, status=CallStatus.DIALING, call_sid__isnull=True
        ).update(
            status=CallStatus.QUEUED,
            slot=None,
            attempts=F("attempts") - 1,
            dial_errors=F("dial_errors") + 1,
            next_attempt_at=now + timedelta(seconds=delay),
            dial_started_at=None,
            error_code=str(getattr(error, "code", "") or ""),
            error_message=str(getattr(error, "message", "") or error)[:2000],
            updated_at=now,
        )
    )


def dial_pacer_wait() -> None:
    """Wait for this process's turn to send calls.create, account-wide.

    One row holds the next free send time; each dial advances it by 1/TWILIO_CALLS_PER_SECOND
    in a single atomic statement and sleeps until the time it reserved.
    """
    rate = settings.TWILIO_CALLS_PER_SECOND
    if rate <= 0:
        return
    interval = 1.0 / rate
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO outbound_dial_pacer (id, next_slot_at)
                VALUES (1, clock_timestamp() + make_interval(secs => %s))
                ON CONFLICT (id) DO UPDATE SET next_slot_at =
                    GREATEST(outbound_dial_pacer.next_slot_at, clock_timestamp()) + make_interval(secs => %s)
                RETURNING EXTRACT(EPOCH FROM (next_slot_at - make_interval(secs => %s) - clock_timestamp()))
                """,
                [interval, interval, interval],
            )
            wait = float(cursor.fetchone()[0])
    else:
        with transaction.atomic():
            now = timezone.now()
            pacer, _created = DialPacer.objects.select_for_update().get_or_create(pk=1, defaults={"next_slot_at": now})
            slot = max(pacer.next_slot_at, now)
            pacer.next_slot_at = slot + timedelta(seconds=interval)
            pacer.save(update_fields=["next_slot_at"])
            wait = (slot - now).total_seconds()
    if wait > 0:
        time.sleep(wait)
