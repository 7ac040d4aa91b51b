"""Filling a run's slots: claim under the run row lock, dial outside it.

    run_fill_slots
      repeat:
        _claim_due_calls      one short transaction under the run row lock:
                                ended or cancel asked  -> cancel the queued calls (finish if idle)
                                free slots, running    -> claim due calls into them (a lead
                                                          outside its hours waits for them)
                                nothing left at all    -> finish the run
        _dial (each claim)    no lock held: CPU-pressure spacing, pacer turn, dial gate, calls.create, then
                                SID recorded | failed for good (slot free) | refused (requeued)
      until a round frees no slot

The partial unique index on (run, slot) and the slot check make a fourth active call of
a run impossible whatever the code above does. Twilio is called only after the claim has
committed, after the account pacer has given the dial its send time. Every state change
is one function of call_transitions / run_transitions.
"""

import logging
import time
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from callcenter import twilio_gateway
from callcenter.ops import metrics
from callcenter.ops.cpu_pressure import dial_spacing_wait
from callcenter.task_queue import queue_broker
from outbound.models import MAX_SLOTS, DialPacer, OutboundCallRun
from outbound.services.call_transitions import (
    Claim,
    DueCall,
    call_claim,
    call_dial_fail,
    call_dial_gate,
    call_sid_record,
    call_skip_do_not_call,
    call_slot_release,
    call_wait_for_hours,
    calls_due_lock,
    calls_queued_cancel,
    calls_ringing_cancel_on_commit,
)
from outbound.services.calling_hours import calling_window
from outbound.services.run_transitions import (
    FillStart,
    LockedRun,
    run_cancel_request,
    run_finish,
    run_has_queued_calls,
    run_heartbeat,
    run_lock_for_fill,
)
from outbound.services.sql import statement_cursor
from outbound.services.wakeups import ActiveCall, run_fill_request, run_wakeup_arm_next, run_wakeup_stands

logger = logging.getLogger(__name__)

RunStatus = OutboundCallRun.Status


def dispatch_fill(run_id: int) -> None:
    """Fill the run's slots now (inline) or on a worker (queue), per OUTBOUND_DISPATCH."""
    if settings.OUTBOUND_DISPATCH == "inline":
        run_fill_slots(run_id=run_id)
    elif run_fill_request(run_id=run_id):
        # One fill queued per run: the events that come before it starts are its to see.
        _queue_fill(run_id)


def dispatch_fill_on_commit(run_id: int) -> None:
    """Fill the run once the current transaction has committed."""
    if settings.OUTBOUND_DISPATCH == "inline":
        transaction.on_commit(partial(run_fill_slots, run_id=run_id))
    elif run_fill_request(run_id=run_id):
        # Marked inside the transaction (no commit of its own to wait for): a fill starting
        # meanwhile waits for this row, so it either sees this change or a new fill is queued.
        transaction.on_commit(partial(_queue_fill, run_id))


def _queue_fill(run_id: int) -> None:
    # save=False: a successful fill leaves no task result. There is one per finished
    # call, and with save_limit set django-q2 reads every stored success (up to the
    # limit, under a lock) to prune them each time it saves one; the run and its calls
    # already say what each fill did. A failed fill is still saved.
    async_task(
        "outbound.tasks.fill_slots", run_id, task_name=f"outbound-fill-{run_id}", save=False, broker=queue_broker()
    )


def run_fill_slots(*, run_id: int) -> int:
    """Start as many due calls as the run has free slots. Returns how many claims were dialed.

    Safe to call from any number of processes at once. A number that cannot be called
    frees its slot at once, so we claim again until a round fails no number. A refused
    dial (429, 5xx) waits for its backoff instead: dialing others at once would be refused too.
    The run's next fill is then arranged for the moment its next piece of work falls due.
    """
    dialed = 0
    while True:
        claims, start = _claim_due_calls(run_id=run_id)
        freed = 0
        placed: list[ActiveCall] = []
        for claim in claims:
            if _dial(claim, placed=placed):
                freed += 1
            else:
                dialed += 1
        if not freed:
            # What the fill saw under the run lock, and the calls it placed, may show that
            # the arranged wake-up stands; anything else (a dial refused or without an
            # answer, a run that is not filling) asks the database.
            if (
                start is None
                or len(placed) < len(claims)
                or not run_wakeup_stands(
                    arranged=start.run.wakeup_due_at, active=start.active + placed, concurrency=start.run.concurrency
                )
            ):
                run_wakeup_arm_next(run_id=run_id)
            return dialed


# --- Claiming (one transaction under the run row lock) ------------------------------------


def _claim_due_calls(*, run_id: int) -> tuple[list[Claim], FillStart | None]:
    """The claims made, and what the fill saw under the run lock (None: the run is gone,
    over or being canceled)."""
    now = timezone.now()
    with transaction.atomic():
        start = run_lock_for_fill(run_id=run_id, now=now, due_limit=MAX_SLOTS)
        run, used_slots = start.run, start.used_slots
        if run is None:
            return [], None
        if run.status not in OutboundCallRun.ACTIVE_STATUSES:
            # Ended (failed with its abandoned job, or finished): a retry queued meanwhile
            # by a late report never dials.
            calls_queued_cancel(run_id=run_id, now=now)
            return [], None
        if run.heartbeat_due:
            run_heartbeat(run=run, now=now)
        if run.cancel_requested or run.job_cancel_requested:
            if not run.cancel_requested:
                # Cancelled through the jobs API (POST /api/jobs/{id}/cancel): same as cancelling the run.
                run_cancel_request(run_id=run_id, now=now)
                calls_ringing_cancel_on_commit(run_id=run_id)
            calls_queued_cancel(run_id=run_id, now=now)
            if not used_slots:
                run_finish(run_id=run_id, status=RunStatus.CANCELED, message=_("Canceled on request."))
            return [], None
        free_slots = [slot for slot in range(1, run.concurrency + 1) if slot not in used_slots]
        claims = []
        if free_slots and run.status == RunStatus.RUNNING:
            claims = _claim_into(run=run, free_slots=free_slots, due=start.due, now=now)
        # Whether anything is still queued is only asked when it can end the run: a claim
        # already proves it, and an active call keeps the run going anyway.
        if not claims and not used_slots and not run_has_queued_calls(run_id=run_id):
            run_finish(run_id=run_id, status=RunStatus.SUCCEEDED)
            return [], None
        return claims, start


def _claim_into(*, run: LockedRun, free_slots: list[int], due: list[DueCall], now: datetime) -> list[Claim]:
    """Claim due calls into the free slots: first those locked with the run (`due`, at most
    MAX_SLOTS), then more while slots stay free and more may be due. A lead that must not be
    called is skipped, and one outside its calling hours waits for them; either way its
    slot goes to the next."""
    window = calling_window(start=run.hours_start, end=run.hours_end)
    claims: list[Claim] = []
    more_due = len(due) == MAX_SLOTS
    while free_slots:
        if not due:
            if not more_due:
                break
            due = calls_due_lock(run_id=run.id, limit=len(free_slots), now=now)
            more_due = len(due) == len(free_slots)
            if not due:
                break
        due, rest = due[: len(free_slots)], due[len(free_slots) :]
        for call in due:
            if call.do_not_call:
                call_skip_do_not_call(call=call, now=now)
                continue
            time_zone = call.time_zone or run.time_zone
            if window is not None and not window.contains(time_zone=time_zone, at=now):
                call_wait_for_hours(call=call, until=window.next_open(time_zone=time_zone, at=now))
                continue
            claims.append(
                call_claim(call=call, run_id=run.id, business_id=run.business_id, slot=free_slots.pop(0), now=now)
            )
        due = rest
    return claims


# --- Dialing (no lock held) -----------------------------------------------------------------


def _dial(claim: Claim, *, placed: list[ActiveCall]) -> bool:
    """Place the claimed call. True when the number failed for good and the slot is free again.
    A call placed and recorded with its SID is added to `placed`."""
    dial_cpu_pressure_wait()
    dial_pacer_wait()
    dial_started_at = timezone.now()
    if not call_dial_gate(claim=claim, now=dial_started_at):
        logger.info("Call %s: claim %s was taken back before dialing", claim.job_id, claim.claim_number)
        return False
    try:
        call = twilio_gateway.call_create(**_call_create_arguments(claim))
    except twilio_gateway.PermanentTwilioError as error:
        logger.warning("Call %s failed permanently: %s", claim.job_id, error)
        return call_dial_fail(claim=claim, error=error)
    except twilio_gateway.TwilioGatewayError as error:
        if error.http_status is None:
            # No answer from Twilio: the call may or may not exist. Keep the slot; the
            # reconciler looks the call up before anything is dialed again.
            logger.warning("Call %s: calls.create got no answer (%s); left to the reconciler", claim.job_id, error)
            return False
        logger.warning("Call %s: calls.create refused (%s); requeued with backoff", claim.job_id, error)
        call_slot_release(
            job_id=claim.job_id,
            claim_number=claim.claim_number,
            dial_started=True,
            retry_at=timezone.now() + _dial_backoff(claim),
            error=error,
        )
        return False
    if call_sid_record(claim=claim, call_sid=call.sid):
        placed.append(
            ActiveCall(
                slot=claim.slot,
                has_sid=True,
                last_event_at=None,
                dial_started_at=dial_started_at,
                claimed_at=claim.claimed_at,
            )
        )
    return False


def _dial_backoff(claim: Claim) -> timedelta:
    seconds = settings.OUTBOUND_DIAL_BACKOFF_SECONDS * (2**claim.dial_errors)
    return timedelta(seconds=min(seconds, settings.OUTBOUND_DIAL_BACKOFF_MAX_SECONDS))


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


def dial_cpu_pressure_wait() -> None:
    """Space this process's dials by the host's CPU pressure (OUTBOUND_DIAL_CPU_PRESSURE_LIMIT).

    Every call placed brings this host's web tier its webhooks for as long as it lasts: the
    TwiML the callee waits for in silence, its status callbacks. Dials placed while tasks
    already queue for the CPU make all of them later, so past the limit the dialer yields to
    the calls going on (callcenter.ops.cpu_pressure.DialSpacing). A dial waits at most
    OUTBOUND_DIAL_CPU_PRESSURE_MAX_WAIT_SECONDS: a host kept busy by other work still dials,
    more slowly. With OUTBOUND_DISPATCH=inline nothing is spaced: fills then run in the
    requests (and in the schedules and wake-ups), where the dialer is the web tier.
    """
    limit = settings.OUTBOUND_DIAL_CPU_PRESSURE_LIMIT
    if limit <= 0 or settings.OUTBOUND_DISPATCH == "inline":
        return
    held = dial_spacing_wait(limit=limit, max_wait=settings.OUTBOUND_DIAL_CPU_PRESSURE_MAX_WAIT_SECONDS)
    if held:
        metrics.DIALS_HELD_SECONDS.inc(held)


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
        with statement_cursor() as cursor:
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
        # SQLite: the transaction begins IMMEDIATE, so the read and the write are one step.
        with transaction.atomic():
            now = timezone.now()
            pacer, _created = DialPacer.objects.select_for_update().get_or_create(pk=1, defaults={"next_slot_at": now})
            slot = max(pacer.next_slot_at, now)
            pacer.next_slot_at = slot + timedelta(seconds=interval)
            pacer.save(update_fields=["next_slot_at"])
            wait = (slot - now).total_seconds()
    if wait > 0:
        time.sleep(wait)
