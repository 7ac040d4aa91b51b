"""The guarded-job core: one lifecycle for every model built on `GuardedJob` (background
jobs, recording download runs).

Starting rests on the model's partial unique index over its `GUARD_SCOPE`: we insert
first and let the database decide, and only on a conflict look at the active job under a
row lock. A stale blocker is failed (its message names the status it was left in) and
replaced; a healthy one is handed back to the caller, which decides what that means
(409 for a background job, "still downloading" for a recording). Never check-then-insert.

The worker side claims a queued job, beats its heartbeat while it works and finishes it,
each as one conditional UPDATE, so a job failed as stale behind a worker's back stays failed:
the worker finds it is no longer running and stops.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from callcenter.errors import Conflict, NotFound, ServiceUnavailable
from callcenter.models import GuardedJob
from callcenter.ops import metrics
from callcenter.signals import job_abandoned

logger = logging.getLogger(__name__)

Job = TypeVar("Job", bound=GuardedJob)
QUEUED, RUNNING = GuardedJob.Status.QUEUED, GuardedJob.Status.RUNNING
FAILED, CANCELLED = GuardedJob.Status.FAILED, GuardedJob.Status.CANCELLED
ACTIVE = GuardedJob.ACTIVE_STATUSES
# An insert that conflicts, finds the blocker gone and conflicts again means jobs are
# finishing and starting under our feet; a few rounds always settle it.
GUARD_ROUNDS = 5


class JobInterrupted(Exception):
    """Raised inside a job's work when it must stop: "cancelled" on request, or "lost" when
    the job was failed as stale behind the worker's back and is no longer its own."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


# --- Starting -------------------------------------------------------------------------


def guarded_job_start(
    *,
    model: type[Job],
    scope: dict,
    insert: Callable[[], Job],
    busy_message: str,
    before_insert: Callable[[], None] | None = None,
) -> tuple[Job, bool]:
    """Insert the active job of `scope` with `insert()`; (job, True) when it was created.

    When a healthy active job holds the scope, (that job, False): the caller decides what
    that means. A stale one is failed first, and that failure is kept even when what
    follows fails, so an error never leaves a stale job active. `before_insert` runs before
    every insert and may raise to refuse the start. Raises Conflict(busy_message) when jobs
    keep starting and finishing under our feet, and whatever `insert` raises otherwise.
    Inside a caller's transaction the new job is part of that larger change.
    """
    failure: Exception
    with transaction.atomic():
        for _round in range(GUARD_ROUNDS):
            try:
                if before_insert is not None:
                    before_insert()
                with transaction.atomic():
                    job = insert()
                metrics.count(metrics.JOBS_STARTED, job_type=metrics.job_type_label(job))
                return job, True
            except IntegrityError:
                blocker = _lock_active(model=model, scope=scope)
                if blocker is None:
                    continue
                if not blocker.is_stale():
                    return blocker, False
                guarded_job_fail_stale(job=blocker)
            except Exception as exc:
                # The savepoint took the half-made job away; the stale job failed in an
                # earlier round stays failed when the outer transaction commits.
                failure = exc
                break
        else:
            failure = Conflict(busy_message)
    raise failure


def _lock_active(*, model: type[Job], scope: dict) -> Job | None:
    # The lock serialises every caller that met the same blocker: the first fails it if it
    # is stale and inserts the successor; the others wait here, then meet that successor
    # (healthy) on their next insert instead of creating another.
    return model.objects.select_for_update().filter(**scope, status__in=ACTIVE).first()


def guarded_job_enqueue_on_commit(*, job: GuardedJob, task: str, task_name: str, unavailable_message: str) -> None:
    """Queue `task` with the job's id once the surrounding transaction commits, so a worker
    never sees a job that might still roll back (django-q2 has no on_commit of its own)."""
    transaction.on_commit(
        partial(
            _enqueue,
            model=type(job),
            job_id=job.pk,
            task=task,
            task_name=task_name,
            unavailable_message=unavailable_message,
        )
    )


def _enqueue(*, model: type[GuardedJob], job_id: int, task: str, task_name: str, unavailable_message: str) -> None:
    # If the queue refuses, fail the job so none stays active without a worker, and tell
    # the caller: it already committed, so this is all it can still learn.
    try:
        async_task(task, job_id, task_name=task_name)
    except Exception as exc:
        logger.exception("Could not queue %s for %s %s", task, model.__name__, job_id)
        model.objects.filter(pk=job_id, status__in=ACTIVE).update(
            status=FAILED,
            finished_at=timezone.now(),
            error_message=_("Could not queue the job: %(error)s") % {"error": exc},
        )
        raise ServiceUnavailable(unavailable_message) from exc


# --- Stale jobs -----------------------------------------------------------------------


def guarded_job_fail_stale(*, job: GuardedJob) -> None:
    """Fail a locked, stale active job, and let the app that owns it clean up after it
    (`job_abandoned`, in this transaction)."""
    old_status = job.status
    job.status = FAILED
    job.finished_at = timezone.now()
    job.error_message = job.stale_message(old_status=old_status)
    job.save(update_fields=["status", "finished_at", "error_message"])
    logger.warning("%s %s abandoned while %s; marked failed", type(job).__name__, job.pk, old_status)
    metrics.count(metrics.JOBS_FINISHED, job_type=metrics.job_type_label(job), status=FAILED)
    metrics.count(metrics.STALE_RECOVERED, kind=metrics.stale_kind_label(job))
    job_abandoned.send(sender=type(job), job=job)


def guarded_jobs_stale(*, model: type[Job], now: datetime | None = None) -> QuerySet[Job]:
    """Active jobs of every business with no sign of life within the model's threshold."""
    cutoff = (now or timezone.now()) - model.stale_after()
    return (
        model.objects.filter(status__in=ACTIVE)
        .alias(last_sign_of_life=Coalesce("heartbeat_at", "created_at"))
        .filter(last_sign_of_life__lt=cutoff)
    )


def guarded_jobs_fail_stale(*, model: type[GuardedJob]) -> int:
    """Fail every stale active job of `model`, each in its own short transaction. Returns how many."""
    failed = 0
    for job_id in list(guarded_jobs_stale(model=model).values_list("id", flat=True)):
        with transaction.atomic():
            # skip_locked: a job locked right now is being recovered by a start or finished
            # by its worker; either way it is not ours to touch.
            job = model.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
            if job is not None and job.is_stale():
                guarded_job_fail_stale(job=job)
                failed += 1
    return failed


# --- Worker side ----------------------------------------------------------------------


def guarded_job_claim(*, model: type[Job], job_id: int, **changes) -> bool:
    """Take a queued job for this worker (queued -> running). False if it is not queued."""
    now = timezone.now()
    claimed = model.objects.filter(pk=job_id, status=QUEUED).update(
        status=RUNNING, started_at=now, heartbeat_at=now, **changes
    )
    return bool(claimed)


def guarded_job_heartbeat(*, job: GuardedJob, **changes) -> None:
    """Say the running job is alive (with `changes`, e.g. progress). Raises
    JobInterrupted("lost") when it is no longer running: failed as stale behind our back,
    it is not ours anymore."""
    now = timezone.now()
    if not type(job).objects.filter(pk=job.pk, status=RUNNING).update(heartbeat_at=now, **changes):
        raise JobInterrupted("lost")
    job.heartbeat_at = now


def guarded_job_finish(*, job: GuardedJob, status: str, message: str = "", **changes) -> bool:
    """Finish an active job as `status`. False if it had already finished (for instance
    failed as stale meanwhile): then nothing changes."""
    updated = (
        type(job)
        .objects.filter(pk=job.pk, status__in=ACTIVE)
        .update(status=status, finished_at=timezone.now(), error_message=message or "", **changes)
    )
    if updated:
        metrics.count(metrics.JOBS_FINISHED, job_type=metrics.job_type_label(job), status=status)
    return bool(updated)


# --- Cancelling (models with a cancelled status and `cancel_requested_at`) ------------


def guarded_job_request_cancel(*, queryset: QuerySet[Job], job_id: int) -> Job:
    """Cancel a queued job of `queryset` at once; ask a running one to stop at its next
    heartbeat. The row lock orders this against the worker's claim and finish."""
    with transaction.atomic():
        job = queryset.select_for_update().filter(pk=job_id).first()
        if job is None:
            raise NotFound(_("Job not found."))
        if not job.is_active:
            raise Conflict(_("The job has already finished."), extra={"job_id": job.pk, "status": job.status})
        now = timezone.now()
        job.cancel_requested_at = job.cancel_requested_at or now
        if job.status == QUEUED:
            job.status = CANCELLED
            job.finished_at = now
            job.error_message = _("Cancelled before it started.")
        job.save(update_fields=["cancel_requested_at", "status", "finished_at", "error_message"])
    return job


def guarded_job_raise_if_cancel_requested(*, job: GuardedJob) -> None:
    if type(job).objects.filter(pk=job.pk, cancel_requested_at__isnull=False).exists():
        raise JobInterrupted("cancelled")
