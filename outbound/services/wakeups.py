"""Event-driven refills: a run is filled again at the moment work becomes possible.

Every fill ends by arranging the run's next look (`run_wakeup_arm_next`) at the earliest of:
a refused dial's backoff or a busy / no-answer retry falling due (the queued call's
`next_attempt_at`), the opening of the calling hours for a lead that waits outside them, and
for each active call the moment it becomes overdue: a call with no callback is fetched from
Twilio OUTBOUND_STUCK_CALL_SECONDS after its last sign of life, a dial whose calls.create got
no answer is looked up lost_dial_after() after it was sent, a claim never dialed is
released after OUTBOUND_LOST_CLAIM_SECONDS. One row per run keeps only the earliest moment.

The wake-up pump (a thread in every qcluster worker process) hands each due run to a worker
(`run_wake`: reconcile that run's overdue calls, then fill it). Fills asked for by events go
through `run_fill_request`, which queues one fill per run however many events arrive before it
starts. The minute schedules stay as a safety net for wake-ups lost with a broker or a worker.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from callcenter.task_queue import queue_broker
from outbound.models import OutboundCallJob, OutboundCallRun
from outbound.services.sql import db_datetime, locking, statement_cursor

logger = logging.getLogger(__name__)

CallStatus = OutboundCallJob.Status
# A fill queued this long ago and not started is taken for lost (a broker restart loses its
# queue): the next event queues another one.
FILL_QUEUED_LOST_AFTER = timedelta(seconds=10)
_FIRE_BATCH = 100

_FILL_REQUEST = """
    INSERT INTO outbound_run_wakeups (run_id, fill_queued_at, due_at) VALUES (%s, %s, NULL)
    ON CONFLICT (run_id) DO UPDATE SET fill_queued_at = excluded.fill_queued_at
    WHERE outbound_run_wakeups.fill_queued_at IS NULL OR outbound_run_wakeups.fill_queued_at < %s
    RETURNING run_id"""
_FILL_STARTED = "UPDATE outbound_run_wakeups SET fill_queued_at = NULL WHERE run_id = %s AND fill_queued_at IS NOT NULL"
_ARM = """
    INSERT INTO outbound_run_wakeups (run_id, due_at, fill_queued_at) VALUES (%s, %s, NULL)
    ON CONFLICT (run_id) DO UPDATE SET due_at = excluded.due_at
    WHERE outbound_run_wakeups.due_at IS NULL OR excluded.due_at < outbound_run_wakeups.due_at"""
_REPLACE_NONE = """
    INSERT INTO outbound_run_wakeups (run_id, due_at, fill_queued_at) VALUES (%s, %s, NULL)
    ON CONFLICT (run_id) DO UPDATE SET due_at = excluded.due_at WHERE outbound_run_wakeups.due_at IS NULL
    RETURNING run_id"""
_REPLACE_SEEN = "UPDATE outbound_run_wakeups SET due_at = %s WHERE run_id = %s AND due_at = %s"
# What decides the next look, in one round trip: the run (first, so that PostgreSQL types the
# columns from it) with its arranged wake-up, each active call's signs of life, and the
# earliest queued call due later (a retry, a refused dial's backoff, a lead waiting for the
# opening of its calling hours: each is a queued call's next_attempt_at).
_NEXT = """
    SELECT 'run', r.status = %s, w.due_at, NULL, NULL, r.concurrency
    FROM outbound_call_runs r LEFT JOIN outbound_run_wakeups w ON w.run_id = r.id WHERE r.id = %s
    UNION ALL
    SELECT 'active', j.call_sid IS NOT NULL, j.last_event_at, j.dial_started_at, j.claimed_at, NULL
    FROM outbound_call_jobs j WHERE j.run_id = %s AND j.status IN (%s, %s)
    UNION ALL
    SELECT 'later', NULL, min(j.next_attempt_at), NULL, NULL, NULL
    FROM outbound_call_jobs j WHERE j.run_id = %s AND j.status = %s AND j.next_attempt_at > %s"""
# Taking due wake-ups clears them in the same statement; SKIP LOCKED lets the pumps of every
# worker on every host take different ones at once, never the same one twice.
_FIRE = """
    UPDATE outbound_run_wakeups SET due_at = NULL WHERE run_id IN (
        SELECT run_id FROM outbound_run_wakeups WHERE due_at <= %s ORDER BY due_at LIMIT %s{lock})
    RETURNING run_id"""
_NEXT_DUE = "SELECT min(due_at) FROM outbound_run_wakeups WHERE due_at IS NOT NULL"


@dataclass(frozen=True)
class ActiveCall:
    """An active call of a run as a fill sees it: its slot and its signs of life."""

    slot: int
    has_sid: bool
    last_event_at: datetime | str | None
    dial_started_at: datetime | str | None
    claimed_at: datetime | str | None


def lost_dial_after() -> timedelta:
    """How long a dial without a call SID waits before Twilio's call list decides its fate.

    Never less than the gateway's own request timeout: until the client has given up on
    calls.create, Twilio may still be creating the call, and a lead released then would be
    dialed twice.
    """
    return timedelta(seconds=max(float(settings.OUTBOUND_LOST_DIAL_SECONDS), float(settings.TWILIO_TIMEOUT_SECONDS)))


def _as_datetime(value) -> datetime | None:
    """A timestamp as the backend returned it as an aware datetime. SQLite stores UTC without
    an offset and answers text, or a naive datetime for a column declared as one."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_fill_request(*, run_id: int) -> bool:
    """Mark a fill of the run as queued. True when the caller should queue it: none was queued
    (or the one queued is taken for lost)."""
    now = timezone.now()
    with statement_cursor() as cursor:
        cursor.execute(_FILL_REQUEST, [run_id, db_datetime(now), db_datetime(now - FILL_QUEUED_LOST_AFTER)])
        return cursor.fetchone() is not None


def run_fill_started(*, run_id: int) -> None:
    """A queued fill starts: events from now on queue another one, as this fill may not see them."""
    with statement_cursor() as cursor:
        cursor.execute(_FILL_STARTED, [run_id])


def run_wakeup_arm(*, run_id: int, at: datetime) -> None:
    """Arrange a look at the run at `at`, unless an earlier one is arranged already."""
    with statement_cursor() as cursor:
        cursor.execute(_ARM, [run_id, db_datetime(at)])


def run_wakeup_arm_next(*, run_id: int) -> datetime | None:
    """After a fill: arrange the run's next look for the earliest moment something falls due
    (None: nothing will, until an event). Returns that moment."""
    now = timezone.now()
    db_now = db_datetime(now)
    with statement_cursor() as cursor:
        cursor.execute(
            _NEXT,
            [
                OutboundCallRun.Status.RUNNING,
                run_id,
                run_id,
                *OutboundCallJob.ACTIVE_STATUSES,
                run_id,
                CallStatus.QUEUED,
                db_now,
            ],
        )
        rows = cursor.fetchall()
    run = next((row for row in rows if row[0] == "run"), None)
    if run is None:
        return None
    _kind, running, arranged, _x, _y, concurrency = run
    arranged = _as_datetime(arranged)
    actives = [ActiveCall(None, *row[1:5]) for row in rows if row[0] == "active"]
    candidates = [due for due in map(_overdue_at, actives) if due is not None]
    later = _as_datetime(next((row[2] for row in rows if row[0] == "later"), None))
    if running and len(actives) < concurrency and later is not None:
        # A free slot and a call that falls due later. (Calls due already were claimed by the
        # fill that just ran, unless a refused dial stopped it: then its backoff is `later`.)
        candidates.append(later)
    wake_at = min(candidates) if candidates else None
    if wake_at == arranged:
        return wake_at
    if actives and arranged is not None and (wake_at is None or wake_at > arranged):
        # An earlier look is arranged (for a call that has ended since, say). While calls are
        # active, callbacks drive the fills and that look costs one early wake-up at most:
        # cheaper than a write after every call. An idle run gets its exact moment.
        return arranged
    if not _run_wakeup_replace(run_id=run_id, seen=arranged, at=wake_at) and wake_at is not None:
        # Changed since we looked (another fill, a wake-up handed out): keep the earlier of
        # the two. Early is harmless (the wake-up finds nothing due and arranges the next).
        run_wakeup_arm(run_id=run_id, at=wake_at)
    return wake_at


def _overdue_at(call: ActiveCall) -> datetime | None:
    """When an active call needs a look if nothing is heard of it: a call with no callback
    is fetched, a dial without an answer looked up, a claim never dialed released."""
    last_event_at, dial_started_at, claimed_at = map(
        _as_datetime, (call.last_event_at, call.dial_started_at, call.claimed_at)
    )
    if call.has_sid or last_event_at is not None:
        last_sign = last_event_at or dial_started_at or claimed_at
        return last_sign + timedelta(seconds=settings.OUTBOUND_STUCK_CALL_SECONDS)
    if dial_started_at is not None:
        return dial_started_at + lost_dial_after()
    if claimed_at is not None:
        return claimed_at + timedelta(seconds=settings.OUTBOUND_LOST_CLAIM_SECONDS)
    return None


def run_wakeup_stands(*, arranged, active: list[ActiveCall], concurrency: int) -> bool:
    """True when a fill that saw these active calls (under its run lock, plus the calls it
    placed since) and this arranged wake-up would leave the wake-up as it is: every slot is
    held, so no queued call due later needs a look, and no active call is overdue before
    the arranged look. run_wakeup_arm_next would then change nothing, and its query is
    spared (most fills of a busy run end so).

    What changed since the fill looked only moves this the safe way: a callback makes a
    call due later, and a call that ended has its own fill, which arranges the next look.
    """
    arranged = _as_datetime(arranged)
    if arranged is None or len(active) < concurrency:
        return False
    return all((due := _overdue_at(call)) is not None and due >= arranged for call in active)


def _run_wakeup_replace(*, run_id: int, seen: datetime | None, at: datetime | None) -> bool:
    """Set the run's wake-up to `at` (None: none) if it is still what this fill saw. A fill
    sees the whole run, so its answer replaces an earlier one that is no longer needed (a
    silent-call check for a call that has ended); a wake-up changed meanwhile by another
    process may know of something this fill did not see, and is not overwritten."""
    with statement_cursor() as cursor:
        if seen is None:
            cursor.execute(_REPLACE_NONE, [run_id, db_datetime(at) if at else None])
            return cursor.fetchone() is not None
        cursor.execute(_REPLACE_SEEN, [db_datetime(at) if at else None, run_id, db_datetime(seen)])
        return cursor.rowcount == 1


def wakeups_fire(*, now: datetime | None = None) -> list[int]:
    """Take every run whose wake-up is due and hand it to a worker (inline when fills are)."""
    now = now or timezone.now()
    with statement_cursor() as cursor:
        cursor.execute(_FIRE.format(lock=locking("FOR UPDATE SKIP LOCKED")), [db_datetime(now), _FIRE_BATCH])
        run_ids = [run_id for (run_id,) in cursor.fetchall()]
    for run_id in run_ids:
        _dispatch_wake(run_id)
    return run_ids


def _dispatch_wake(run_id: int) -> None:
    if settings.OUTBOUND_DISPATCH == "inline":
        run_wake(run_id=run_id)
    else:
        from django_q.tasks import async_task

        async_task(
            "outbound.tasks.wake_run", run_id, task_name=f"outbound-wake-{run_id}", save=False, broker=queue_broker()
        )


def wakeups_next_due() -> datetime | None:
    with statement_cursor() as cursor:
        cursor.execute(_NEXT_DUE)
        return _as_datetime(cursor.fetchone()[0])


def run_wake(*, run_id: int) -> int:
    """A run's wake-up fell due: settle its overdue calls with Twilio, then fill it (which
    arranges the next wake-up)."""
    from outbound.services.dispatch import run_fill_slots
    from outbound.services.reconcile import calls_reconcile

    calls_reconcile(run_id=run_id)
    return run_fill_slots(run_id=run_id)


def run_fill_from_queue(*, run_id: int) -> int:
    """The queued fill: events from here on queue the next one."""
    from outbound.services.dispatch import run_fill_slots

    run_fill_started(run_id=run_id)
    return run_fill_slots(run_id=run_id)


def wakeup_pump(*, stop: threading.Event) -> None:
    """Hand due wake-ups to workers until `stop` is set; sleeps until the next one is due, at
    most OUTBOUND_WAKEUP_POLL_SECONDS (a wake-up arranged meanwhile by another process)."""
    poll = settings.OUTBOUND_WAKEUP_POLL_SECONDS
    while not stop.is_set():
        try:
            wakeups_fire()
            next_due = wakeups_next_due()
            wait = poll if next_due is None else (next_due - timezone.now()).total_seconds()
            wait = min(max(wait, 0.01), poll)
        except Exception:
            # The database or the broker is away (restart, network): try again shortly.
            logger.warning("Wake-up pump: could not hand out wake-ups; retrying", exc_info=True)
            close_old_connections()
            connection.close()
            wait = 1.0
        stop.wait(wait)
