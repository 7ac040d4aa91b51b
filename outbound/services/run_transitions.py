"""A run's state changes that the slot filler and the run controls share, one function each.

A run goes running <-> paused -> succeeded / failed / canceled. Every change of its
status happens under its row lock, the lock every filler of the run takes first, so a
fill never sees a half-made decision and never dials for a run that has ended.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import connection
from django.utils import timezone

from callcenter.models import BackgroundJob
from callcenter.services import background_job_finish
from outbound.models import OutboundCallJob, OutboundCallRun
from outbound.selectors import call_status_counts
from outbound.services.call_transitions import DueCall, calls_due_lock_statement, calls_queued_cancel
from outbound.services.sql import db_datetime, execute_in_turn, locking, row_as, rows_as, rows_by_kind
from outbound.services.wakeups import ActiveCall

logger = logging.getLogger(__name__)

RunStatus = OutboundCallRun.Status
CallStatus = OutboundCallJob.Status
ACTIVE = OutboundCallJob.ACTIVE_STATUSES
# A running run's job is heartbeaten at most this often by its fills, so that a long
# run is never taken for an abandoned one.
HEARTBEAT_EVERY = timedelta(seconds=30)
# The run's ends, and the background job status each one finishes its job with (the jobs
# API keeps its own spelling, "cancelled").
_JOB_STATUS = {
    RunStatus.SUCCEEDED: BackgroundJob.Status.SUCCEEDED,
    RunStatus.FAILED: BackgroundJob.Status.FAILED,
    RunStatus.CANCELED: BackgroundJob.Status.CANCELLED,
}


@dataclass(frozen=True)
class LockedRun:
    """A run as read under its row lock, with what a fill needs of its job, business and hours."""

    id: int
    status: str
    concurrency: int
    total_leads: int
    business_id: int
    background_job_id: int
    cancel_requested: bool
    job_cancel_requested: bool
    heartbeat_due: bool
    time_zone: str
    hours_start: time | None
    hours_end: time | None
    wakeup_due_at: datetime | str | None


# The job, business, hours and wake-up rows (one each at most) are read by scalar subqueries,
# not joins: PostgreSQL plans this statement on every fill, and planning a five-table join
# cost several times its execution.
_RUN_LOCK = """
    SELECT r.id, r.status, r.concurrency, r.total_leads, r.business_id, r.background_job_id,
           r.cancel_requested_at IS NOT NULL AS cancel_requested,
           (SELECT bj.cancel_requested_at IS NOT NULL FROM background_jobs bj WHERE bj.id = r.background_job_id)
               AS job_cancel_requested,
           (SELECT bj.heartbeat_at <= %s FROM background_jobs bj WHERE bj.id = r.background_job_id) AS heartbeat_due,
           (SELECT b.time_zone FROM businesses b WHERE b.id = r.business_id) AS time_zone,
           (SELECT h.start FROM outbound_calling_hours h WHERE h.business_id = r.business_id) AS hours_start,
           (SELECT h."end" FROM outbound_calling_hours h WHERE h.business_id = r.business_id) AS hours_end,
           (SELECT w.due_at FROM outbound_run_wakeups w WHERE w.run_id = r.id) AS wakeup_due_at
    FROM outbound_call_runs r
    WHERE r.id = %s"""

# The run's active calls: the slots they hold and their signs of life (for the next
# wake-up, wakeups.run_wakeup_stands). Only the active calls are read: a fill stays cheap
# however many leads the run has. Exact only under the run lock.
_ACTIVE_CALLS = """
    SELECT slot, call_sid IS NOT NULL AS has_sid, last_event_at, dial_started_at, claimed_at
    FROM outbound_call_jobs WHERE run_id = %s AND status IN ({})""".format(  # noqa: S608
    ", ".join(["%s"] * len(ACTIVE))  # one placeholder per active status
)


# PostgreSQL: the active calls and the due calls (locked) in one statement, so after the run
# lock a fill needs one more round trip, not two. One snapshot for both, taken once the
# run lock is held (the statement before); each row says which it is (`kind`).
_ACTIVE_AND_DUE = """
    WITH due AS ({due})
    SELECT 'active' AS kind, slot, call_sid IS NOT NULL AS has_sid, last_event_at, dial_started_at, claimed_at,
           NULL::bigint AS id, NULL::integer AS claim_number, NULL::varchar AS phone, NULL::varchar AS time_zone,
           NULL::integer AS dial_errors, NULL::boolean AS do_not_call, NULL::timestamptz AS due_at
    FROM outbound_call_jobs WHERE run_id = %s AND status IN ({active})
    UNION ALL
    SELECT 'due', NULL, NULL, NULL, NULL, NULL, id, claim_number, phone, time_zone, dial_errors, do_not_call, due_at
    FROM due"""


def _active_and_due(cursor) -> tuple[list[ActiveCall], list[DueCall]]:
    kinds = rows_by_kind(cursor, {"active": ActiveCall, "due": DueCall})
    # The due calls oldest first, as the lock read them (a UNION promises no order).
    due = sorted(kinds["due"], key=lambda call: (call.due_at, call.id))
    return kinds["active"], due


@dataclass(frozen=True)
class FillStart:
    """What a fill reads once it holds the run lock: the run (None: no such run), its active
    calls, and its first due calls, locked (calls_due_lock)."""

    run: LockedRun | None
    active: list[ActiveCall]
    due: list[DueCall]

    @property
    def used_slots(self) -> set[int]:
        return {call.slot for call in self.active}


def run_lock_for_fill(*, run_id: int, now: datetime, due_limit: int) -> FillStart:
    """Lock the run row and read it. The lock serialises every filler of this run, so
    counting its free slots and taking them is one step; pause, resume and cancel take
    the same lock. Only the run row is locked (FOR UPDATE OF r), not its job or business.

    Under that lock, the active calls and up to `due_limit` due calls (locked too) are read,
    as nearly every fill of a running run needs both: each statement after the lock is
    taken, with a snapshot of its own (execute_in_turn), and on PostgreSQL both in one
    (_ACTIVE_AND_DUE). A due call locked here and left unclaimed is released at commit,
    unchanged.
    """
    lock = (
        _RUN_LOCK + locking("FOR UPDATE OF r"),
        [db_datetime(now - HEARTBEAT_EVERY), run_id],
        lambda cursor: row_as(cursor, LockedRun),
    )
    due_sql, due_params = calls_due_lock_statement(run_id=run_id, limit=due_limit, now=now)
    if connection.vendor == "postgresql":
        sql = _ACTIVE_AND_DUE.format(due=due_sql, active=", ".join(["%s"] * len(ACTIVE)))
        run, (active, due) = execute_in_turn([lock, (sql, [*due_params, run_id, *ACTIVE], _active_and_due)])
    else:
        run, active, due = execute_in_turn(
            [
                lock,
                (_ACTIVE_CALLS, [run_id, *ACTIVE], lambda cursor: rows_as(cursor, ActiveCall)),
                (due_sql, due_params, lambda cursor: rows_as(cursor, DueCall)),
            ]
        )
    return FillStart(run=run, active=active, due=due)


def run_has_queued_calls(*, run_id: int) -> bool:
    return OutboundCallJob.objects.filter(run_id=run_id, status=CallStatus.QUEUED).exists()


def run_heartbeat(*, run: LockedRun, now: datetime) -> None:
    """Tell the guard the run's job is alive, with its progress. Under the run lock, so
    the count is of one moment; a finished job is left alone."""
    done = OutboundCallJob.objects.filter(run_id=run.id, status__in=OutboundCallJob.FINAL_STATUSES).count()
    BackgroundJob.objects.filter(pk=run.background_job_id, status__in=BackgroundJob.ACTIVE_STATUSES).update(
        heartbeat_at=now, progress_done=done, progress_total=run.total_leads
    )


def run_cancel_request(*, run_id: int, now: datetime) -> None:
    """Mark the run as asked to cancel (its job was cancelled through the jobs API).
    Under the run lock: the fill that sees it cancels the queued calls in the same step."""
    OutboundCallRun.objects.filter(pk=run_id, cancel_requested_at__isnull=True).update(cancel_requested_at=now)


def run_finish(*, run_id: int, status: str, message: str = "") -> OutboundCallRun:
    """End a run and its background job together. Needs the run row lock, and no call of
    the run may be active: nothing is dialing for it any more."""
    run = OutboundCallRun.objects.select_related("background_job").get(pk=run_id)
    now = timezone.now()
    run.status = status
    run.finished_at = now
    run.message = message or run.message
    run.save(update_fields=["status", "finished_at", "message"])
    BackgroundJob.objects.filter(pk=run.background_job_id).update(progress_done=run.total_leads)
    background_job_finish(
        job=run.background_job,
        status=_JOB_STATUS[status],
        message=message,
        result={"calls": call_status_counts(run_id=run.pk)},
    )
    return run


def run_fail_abandoned(*, job: BackgroundJob) -> None:
    """The run's job was found stale and failed: fail the run and cancel its queued calls
    in the same transaction, so the run that replaces it never dials alongside it.

    Locks the run row, the lock any filler of it takes first.
    """
    run = OutboundCallRun.objects.select_for_update().filter(background_job=job).first()
    if run is None or not run.is_active:
        return
    now = timezone.now()
    run.status = RunStatus.FAILED
    run.finished_at = now
    run.message = job.error_message
    run.save(update_fields=["status", "finished_at", "message"])
    canceled = calls_queued_cancel(run_id=run.pk, now=now)
    logger.warning("Run %s failed with its abandoned job %s; %s queued calls canceled", run.pk, job.pk, canceled)
