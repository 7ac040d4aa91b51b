"""The reconciler and the safety tick: what keeps runs moving when callbacks or workers fail.

- an active call without a callback for OUTBOUND_STUCK_CALL_SECONDS is fetched from Twilio
  and moved to the state Twilio reports;
- a dial whose calls.create never answered (no call SID after lost_dial_after())
  is looked up in Twilio's call list first: found, we adopt that call; not found, the
  claim is released and the lead queued again. It is never simply dialed again;
- a claim whose process died before sending calls.create is released;
- every active run is filled, which also heartbeats it and finishes it when done.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from callcenter import twilio_gateway
from outbound.models import CallEvent, OutboundCallJob, OutboundCallRun
from outbound.services.call_reports import CallReport, call_lock
from outbound.services.call_transitions import call_slot_release
from outbound.services.callbacks import call_report_apply
from outbound.services.dispatch import run_fill_slots
from outbound.services.wakeups import lost_dial_after

logger = logging.getLogger(__name__)

CallStatus = OutboundCallJob.Status
ACTIVE = OutboundCallJob.ACTIVE_STATUSES
_BATCH = 200
# Twilio's clock and ours may differ a little; the call list is searched from a bit earlier.
_CLOCK_SKEW = timedelta(seconds=5)


def calls_reconcile(*, now=None, run_id: int | None = None) -> dict[str, int]:
    """Settle overdue calls with Twilio: of every run (the schedule), or of one run (its wake-up)."""
    now = now or timezone.now()
    summary = {"fetched": 0, "adopted": 0, "released": 0}
    calls = OutboundCallJob.objects.all() if run_id is None else OutboundCallJob.objects.filter(run_id=run_id)
    stuck = (
        calls.filter(status__in=ACTIVE, call_sid__isnull=False)
        .annotate(last_seen=Coalesce("last_event_at", "dial_started_at", "claimed_at"))
        .filter(last_seen__lte=now - timedelta(seconds=settings.OUTBOUND_STUCK_CALL_SECONDS))
        .values_list("id", "claim_number", "call_sid")[:_BATCH]
    )
    for job_id, claim_number, call_sid in stuck:
        try:
            call = twilio_gateway.call_fetch(call_sid=call_sid)
        except twilio_gateway.TwilioGatewayError as error:
            logger.warning("Reconciler: fetching call %s failed: %s", call_sid, error)
            continue
        _apply(job_id=job_id, claim_number=claim_number, call=call)
        summary["fetched"] += 1

    lost_dials = calls.filter(
        status=CallStatus.DIALING,
        call_sid__isnull=True,
        dial_started_at__lte=now - lost_dial_after(),
    ).values_list("id", "run_id", "claim_number", "phone", "dial_started_at")[:_BATCH]
    released_runs: set[int] = set()
    for job_id, run_id, claim_number, phone, dial_started_at in lost_dials:
        try:
            found = twilio_gateway.calls_list(to=phone, started_after=dial_started_at - _CLOCK_SKEW)
        except twilio_gateway.TwilioGatewayError as error:
            logger.warning("Reconciler: listing calls to %s failed: %s", phone, error)
            continue
        call = _unclaimed_call(found=found, job_id=job_id, claim_number=claim_number)
        if call is not None:
            _apply(job_id=job_id, claim_number=claim_number, call=call)
            summary["adopted"] += 1
        elif _release(job_id=job_id, claim_number=claim_number, dial_started=True):
            summary["released"] += 1
            released_runs.add(run_id)

    lost_claims = calls.filter(
        status=CallStatus.DIALING,
        dial_started_at__isnull=True,
        claimed_at__lte=now - timedelta(seconds=settings.OUTBOUND_LOST_CLAIM_SECONDS),
    ).values_list("id", "run_id", "claim_number")[:_BATCH]
    for job_id, run_id, claim_number in lost_claims:
        if _release(job_id=job_id, claim_number=claim_number, dial_started=False):
            summary["released"] += 1
            released_runs.add(run_id)
    if any(summary.values()):
        logger.info("Reconciler: %s", summary)
    for run_id in sorted(released_runs):
        run_fill_slots(run_id=run_id)
    return summary


def _unclaimed_call(*, found, job_id: int, claim_number: int):
    """The earliest listed call that no other job or earlier attempt already accounts for."""
    for call in sorted(found, key=lambda c: c.date_created or c.start_time or timezone.now()):
        taken = OutboundCallJob.objects.filter(call_sid=call.sid).exclude(pk=job_id).exists()
        earlier = CallEvent.objects.filter(call_sid=call.sid).exclude(job_id=job_id, claim_number=claim_number).exists()
        if not taken and not earlier:
            return call
    return None


def _apply(*, job_id: int, claim_number: int, call) -> None:
    report = CallReport(
        call_sid=call.sid,
        status=(call.status or "").lower(),
        answered_by=(call.answered_by or "").lower(),
        duration=call.duration,
    )
    with transaction.atomic():
        # Same row lock as the status callback, so a fetch and a callback never interleave.
        job = call_lock(job_id=job_id)
        if job is not None:
            call_report_apply(job=job, claim_number=claim_number, report=report)


def _release(*, job_id: int, claim_number: int, dial_started: bool) -> bool:
    """Give a lost claim's slot back and queue its lead again, only if the claim is unchanged."""
    released = call_slot_release(
        job_id=job_id, claim_number=claim_number, dial_started=dial_started, retry_at=timezone.now()
    )
    if released:
        logger.warning("Reconciler: call %s (claim %s) released and queued again", job_id, claim_number)
    return released


def runs_tick() -> int:
    """Fill every active run: dials what is due, heartbeats, finishes the runs that are done."""
    run_ids = list(
        OutboundCallRun.objects.filter(status__in=OutboundCallRun.ACTIVE_STATUSES).values_list("id", flat=True)
    )
    for run_id in run_ids:
        try:
            run_fill_slots(run_id=run_id)
        except Exception:
            logger.exception("Safety tick: filling run %s failed", run_id)
    return len(run_ids)
