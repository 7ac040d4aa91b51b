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
        async_task("outbound.tasks.fill_slots", run_id, task_name=f"outbound-fill-{run_id}")


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


def _claim_due_calls(*, run_id: int) -> list[Claim]:
    now = timezone.now()
    with transaction.atomic():
        # The run row lock serialises every filler of this run, so counting the free slots
        # and taking them is one step; pause / resume / cancel take the same lock.
        run = (
            OutboundCallRun.objects.select_for_update(of=("self",))
            .select_related("business__calling_hours", "background_job")
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            return []
        if not run.is_active:
            _cancel_queued_calls(run=run, now=now)
            return []
        # Only the active calls and whether any is queued: a fill stays cheap however many
        # leads the run has.
        used_slots = set(OutboundCallJob.objects.filter(run=run, status__in=ACTIVE).values_list("slot", flat=True))
        active = len(used_slots)
        queued = OutboundCallJob.objects.filter(run=run, status=CallStatus.QUEUED).exists()
        _heartbeat(run=run, now=now)
        if run.cancel_requested_at is None and run.background_job.cancel_requested_at is not None:
            # Cancelled through the jobs API (POST /api/jobs/{id}/cancel): same as cancelling the run.
            run.cancel_requested_at = now
            run.save(update_fields=["cancel_requested_at"])
        if run.cancel_requested_at is not None:
            _cancel_queued_calls(run=run, now=now)
            if not active:
                run_finish(run=run, status=RunStatus.CANCELLED, message=_("Cancelled on request."))
            return []
        if not queued and not active:
            run_finish(run=run, status=RunStatus.SUCCEEDED)
            return []
        if run.status != RunStatus.RUNNING or not within_calling_hours(business=run.business, at=now):
            return []
        free_slots = [slot for slot in range(1, run.concurrency + 1) if slot not in used_slots]
        claims = _claim_into(run=run, free_slots=free_slots, now=now)
        if not claims and not active and not OutboundCallJob.objects.filter(run=run, status=CallStatus.QUEUED).exists():
            run_finish(run=run, status=RunStatus.SUCCEEDED)  # the last queued leads were all skipped
        return claims


def _claim_into(*, run: OutboundCallRun, free_slots: list[int], now: datetime) -> list[Claim]:
    claims: list[Claim] = []
    while free_slots:
        # skip_locked: a queued call locked elsewhere is being cancelled or detached from
        # its deleted lead; the next one will do.
        candidates = list(
            OutboundCallJob.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("lead")
            .filter(run=run, status=CallStatus.QUEUED, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")[: len(free_slots)]
        )
        if not candidates:
            break
        for job in candidates:
            if job.lead is not None and job.lead.do_not_call:
                job.status, job.outcome = CallStatus.SKIPPED, Outcome.DO_NOT_CALL
                job.ended_at = now
                job.save(update_fields=["status", "outcome", "ended_at", "updated_at"])
                continue
            job.status = CallStatus.DIALING
            job.slot = free_slots.pop(0)
            job.claim_number += 1
            job.claimed_at = now
            job.dial_started_at = None
            job.call_sid = None
            job.last_sequence_number = -1
            job.twilio_status = ""
            job.save(
                update_fields=[
                    "status",
                    "slot",
                    "claim_number",
                    "claimed_at",
                    "dial_started_at",
                    "call_sid",
                    "last_sequence_number",
                    "twilio_status",
                    "updated_at",
                ]
            )
            claims.append(
                Claim(
                    job_id=job.pk,
                    run_id=run.pk,
                    business_id=run.business_id,
                    claim_number=job.claim_number,
                    phone=job.phone,
                    dial_errors=job.dial_errors,
                )
            )
    return claims


def _heartbeat(*, run: OutboundCallRun, now: datetime) -> None:
    job = run.background_job
    if job.heartbeat_at > now - HEARTBEAT_EVERY:
        return
    done = OutboundCallJob.objects.filter(run=run, status__in=OutboundCallJob.FINAL_STATUSES).count()
    BackgroundJob.objects.filter(pk=job.pk, status__in=BackgroundJob.ACTIVE_STATUSES).update(
        heartbeat_at=now, progress_done=done, progress_total=run.total_leads
    )


def _cancel_queued_calls(*, run: OutboundCallRun, now: datetime) -> int:
    return OutboundCallJob.objects.filter(run=run, status=CallStatus.QUEUED).update(
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
        own = business.calling_hours  # loaded with the run by the filler's select_related
    except CallingHours.DoesNotExist:
        own = None
    if own is not None:
        start, end = own.start.strftime("%H:%M"), own.end.strftime("%H:%M")
    else:
        start, end = settings.OUTBOUND_CALLING_HOURS_START, settings.OUTBOUND_CALLING_HOURS_END
    if not start or not end:
        return True
    local = at.astimezone(ZoneInfo(business.time_zone or settings.TIME_ZONE)).strftime("%H:%M")
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # hours that span midnight


# --- Dialing (no lock held) -----------------------------------------------------------


def _dial(claim: Claim) -> bool:
    """Place the claimed call. True when the number failed for good and the slot is free again."""
    dial_pacer_wait()
    # The gate: from this update on the call may exist at Twilio. The reconciler only
    # takes back claims that never passed it, so a lead cannot be dialed twice by accident.
    passed = OutboundCallJob.objects.filter(
        pk=claim.job_id,
        claim_number=claim.claim_number,
        status=CallStatus.DIALING,
        dial_started_at__isnull=True,
    ).update(dial_started_at=timezone.now(), attempts=F("attempts") + 1)
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
    OutboundCallJob.objects.filter(pk=claim.job_id, claim_number=claim.claim_number, call_sid__isnull=True).exclude(
        status=CallStatus.QUEUED
    ).update(call_sid=call.sid)
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
