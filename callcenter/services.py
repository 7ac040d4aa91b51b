"""Every write to businesses and background jobs.

The guard (`background_job_start`) rests on the partial unique index
`idx_background_jobs_unique_active`: we insert first and let the database decide, and only
on a conflict look at the active job under a row lock.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from callcenter.errors import ActiveJobExists, Conflict, NotFound
from callcenter.models import BackgroundJob, Business, Membership
from callcenter.ops import metrics
from callcenter.signals import background_job_abandoned

logger = logging.getLogger(__name__)

Status = BackgroundJob.Status
ACTIVE = BackgroundJob.ACTIVE_STATUSES
# An insert that conflicts, finds the blocker gone and conflicts again means jobs are
# finishing and starting under our feet; a few rounds always settle it.
_GUARD_ATTEMPTS = 5


def business_create(*, name: str, time_zone: str = "Asia/Jerusalem") -> Business:
    return Business.objects.create(name=name, time_zone=time_zone)


def membership_create(*, business: Business, user, role: str = Membership.Role.AGENT) -> Membership:
    membership, _created = Membership.objects.get_or_create(business=business, user=user, defaults={"role": role})
    return membership


def stale_cutoff(now=None):
    now = now or timezone.now()
    return now - timedelta(minutes=settings.BACKGROUND_JOB_STALE_THRESHOLD_MINUTES)


def background_job_start(
    *,
    business: Business,
    job_type: str,
    payload: dict | None = None,
    created_by=None,
    progress_total: int | None = None,
    task: str | None = None,
) -> BackgroundJob:
    """Create the active job of `job_type` for `business`, or raise ActiveJobExists.

    A stale active job (no heartbeat for BACKGROUND_JOB_STALE_THRESHOLD_MINUTES) is failed
    and replaced. `task`, a dotted path, is queued with the job id once the surrounding
    transaction commits, so a worker never sees a job that might still roll back.
    Call it inside the caller's transaction to make the job part of a larger change: if
    that change fails, the job goes with it.
    """
    with transaction.atomic():
        for _attempt in range(_GUARD_ATTEMPTS):
            try:
                with transaction.atomic():
                    job = BackgroundJob.objects.create(
                        business=business,
                        job_type=job_type,
                        payload=payload or {},
                        created_by=created_by if getattr(created_by, "pk", None) else None,
                        progress_total=progress_total,
                    )
                break
            except IntegrityError:
                _fail_blocking_job_if_stale(business=business, job_type=job_type)
        else:
            raise Conflict(_("Could not start the job: other jobs keep starting. Please try again."))
        if task:
            transaction.on_commit(partial(async_task, task, job.pk, task_name=f"{job_type}-{job.pk}"))
        metrics.count(metrics.JOBS_STARTED, job_type=job_type)
    return job


def _fail_blocking_job_if_stale(*, business: Business, job_type: str) -> None:
    # The lock serialises every caller that met the same blocker: one of them fails it,
    # the others then re-read it as finished and retry their insert against the newcomer.
    blocker = (
        BackgroundJob.objects.select_for_update()
        .filter(business=business, job_type=job_type, status__in=ACTIVE)
        .first()
    )
    if blocker is None:
        return
    if not blocker.is_stale():
        raise ActiveJobExists(blocker)
    _fail_abandoned(blocker)


def _fail_abandoned(job: BackgroundJob) -> None:
    """Fail a locked, stale active job and let its owner app clean up after it."""
    old_status = job.status
    job.status = Status.FAILED
    job.finished_at = timezone.now()
    job.error_message = _(
        "Abandoned: no heartbeat for more than %(minutes)s minutes while %(status)s; "
        "the job was marked failed so a new one can start."
    ) % {"minutes": settings.BACKGROUND_JOB_STALE_THRESHOLD_MINUTES, "status": old_status}
    job.save(update_fields=["status", "finished_at", "error_message"])
    logger.warning("Background job %s (%s) abandoned while %s; marked failed", job.pk, job.job_type, old_status)
    metrics.count(metrics.JOBS_FINISHED, job_type=job.job_type, status=Status.FAILED)
    metrics.count(metrics.STALE_RECOVERED, kind="background_job")
    background_job_abandoned.send(sender=BackgroundJob, job=job)


def background_jobs_fail_stale() -> int:
    """Fail every stale active job of every business. Returns how many."""
    failed = 0
    stale_ids = list(
        BackgroundJob.objects.filter(status__in=ACTIVE, heartbeat_at__lt=stale_cutoff()).values_list("id", flat=True)
    )
    for job_id in stale_ids:
        with transaction.atomic():
            # skip_locked: a job locked right now is being recovered by a request or
            # finished by its worker; either way it is not ours to touch.
            job = BackgroundJob.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
            if job is not None and job.is_stale():
                _fail_abandoned(job)
                failed += 1
    return failed


def background_job_request_cancel(*, business: Business, job_id: int) -> BackgroundJob:
    """Cancel a queued job at once; ask a running one to stop between batches."""
    with transaction.atomic():
        job = BackgroundJob.objects.select_for_update().filter(business=business, pk=job_id).first()
        if job is None:
            raise NotFound(_("Job not found."))
        if not job.is_active:
            raise Conflict(_("The job has already finished."), extra={"job_id": job.pk, "status": job.status})
        now = timezone.now()
        job.cancel_requested_at = job.cancel_requested_at or now
        if job.status == Status.QUEUED:
            job.status = Status.CANCELLED
            job.finished_at = now
            job.error_message = _("Cancelled before it started.")
        job.save(update_fields=["cancel_requested_at", "status", "finished_at", "error_message"])
    return job


# --- Worker side --------------------------------------------------------------------


class JobInterrupted(Exception):
    """Raised inside a job's work when it must stop between batches."""

    def __init__(self, reason: str):
        self.reason = reason  # "cancelled" or "lost"
        super().__init__(reason)


@dataclass
class JobContext:
    """What a running job's work function sees: its job and a way to report progress."""

    job: BackgroundJob
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def payload(self) -> dict:
        return self.job.payload

    @property
    def business(self) -> Business:
        return self.job.business

    def progress(self, *, done: int, total: int | None = None) -> None:
        """Heartbeat with progress; raise JobInterrupted if the job must stop now."""
        background_job_heartbeat(job=self.job, done=done, total=total, result=self.result)


def background_job_mark_running(*, job_id: int) -> BackgroundJob | None:
    """Claim a queued job for this worker. None if it is no longer queued."""
    now = timezone.now()
    claimed = BackgroundJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None
    return BackgroundJob.objects.select_related("business").get(pk=job_id)


def background_job_heartbeat(*, job: BackgroundJob, done: int, total: int | None = None, result=None) -> None:
    now = timezone.now()
    changes = {"heartbeat_at": now, "progress_done": done}
    if total is not None:
        changes["progress_total"] = total
    if result is not None:
        changes["result"] = result
    # Only while still running: a job failed as stale behind our back is not ours anymore.
    updated = BackgroundJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(**changes)
    if not updated:
        raise JobInterrupted("lost")
    job.heartbeat_at, job.progress_done = now, done
    if total is not None:
        job.progress_total = total
    if BackgroundJob.objects.filter(pk=job.pk, cancel_requested_at__isnull=False).exists():
        raise JobInterrupted("cancelled")


def background_job_finish(*, job: BackgroundJob, status: str, message: str = "", result: dict | None = None) -> bool:
    """Finish a running job. False if it was no longer ours (failed as stale meanwhile)."""
    changes = {"status": status, "finished_at": timezone.now(), "error_message": message or ""}
    if result is not None:
        changes["result"] = result
    updated = BackgroundJob.objects.filter(pk=job.pk, status__in=ACTIVE).update(**changes)
    if updated:
        metrics.count(metrics.JOBS_FINISHED, job_type=job.job_type, status=status)
    return bool(updated)


def background_job_execute(*, job_id: int, work: Callable[[JobContext], dict | None]) -> str | None:
    """Run `work` as the body of job `job_id` and record how it ended.

    `work` reports progress through `ctx.progress(...)`, which stops it between batches on
    a cancel request. What it returns becomes the job's result.
    """
    job = background_job_mark_running(job_id=job_id)
    if job is None:
        logger.info("Job %s is no longer queued; nothing to do", job_id)
        return None
    ctx = JobContext(job=job)
    try:
        result = work(ctx)
    except JobInterrupted as interrupted:
        if interrupted.reason == "cancelled":
            background_job_finish(
                job=job,
                status=Status.CANCELLED,
                message=_("Cancelled on request after %(done)s of %(total)s.")
                % {"done": job.progress_done, "total": job.progress_total or "?"},
                result=ctx.result,
            )
            return Status.CANCELLED
        logger.warning("Job %s was taken from this worker (marked failed as stale); stopping", job.pk)
        return None
    except Exception as exc:
        logger.exception("Job %s (%s) failed", job.pk, job.job_type)
        background_job_finish(
            job=job, status=Status.FAILED, message=_("Failed: %(error)s") % {"error": exc}, result=ctx.result
        )
        return Status.FAILED
    if result is not None:
        ctx.result = result
    background_job_finish(job=job, status=Status.SUCCEEDED, result=ctx.result)
    return Status.SUCCEEDED
