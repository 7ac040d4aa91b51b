"""Every write to businesses and background jobs.

Background jobs are guarded jobs (callcenter.guarded_jobs): the partial unique index
`idx_background_jobs_unique_active` lets one job per (business, job type) be active.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from callcenter.errors import ActiveJobExists
from callcenter.guarded_jobs import (
    JobInterrupted,
    guarded_job_claim,
    guarded_job_enqueue_on_commit,
    guarded_job_finish,
    guarded_job_heartbeat,
    guarded_job_raise_if_cancel_requested,
    guarded_job_request_cancel,
    guarded_job_start,
    guarded_jobs_fail_stale,
)
from callcenter.models import BackgroundJob, Business, Membership

logger = logging.getLogger(__name__)

Status = BackgroundJob.Status

__all__ = [
    "JobContext",
    "JobInterrupted",
    "background_job_execute",
    "background_job_finish",
    "background_job_heartbeat",
    "background_job_mark_running",
    "background_job_request_cancel",
    "background_job_start",
    "background_jobs_fail_stale",
    "business_create",
    "membership_create",
]


def business_create(*, name: str, time_zone: str = "Asia/Jerusalem") -> Business:
    return Business.objects.create(name=name, time_zone=time_zone)


def membership_create(*, business: Business, user, role: str = Membership.Role.AGENT) -> Membership:
    membership, _created = Membership.objects.get_or_create(business=business, user=user, defaults={"role": role})
    return membership


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

    def insert() -> BackgroundJob:
        return BackgroundJob.objects.create(
            business=business,
            job_type=job_type,
            payload=payload or {},
            created_by=created_by if getattr(created_by, "pk", None) else None,
            progress_total=progress_total,
        )

    job, created = guarded_job_start(
        model=BackgroundJob,
        scope={"business": business, "job_type": job_type},
        insert=insert,
        busy_message=_("Could not start the job: other jobs keep starting. Please try again."),
    )
    if not created:
        raise ActiveJobExists(job)
    if task:
        guarded_job_enqueue_on_commit(
            job=job,
            task=task,
            task_name=f"{job_type}-{job.pk}",
            unavailable_message=_("Could not start the job: the task queue is unavailable. Please try again."),
        )
    return job


def background_jobs_fail_stale() -> int:
    """Fail every stale active job of every business. Returns how many."""
    return guarded_jobs_fail_stale(model=BackgroundJob)


def background_job_request_cancel(*, business: Business, job_id: int) -> BackgroundJob:
    """Cancel a queued job at once; ask a running one to stop between batches."""
    return guarded_job_request_cancel(queryset=BackgroundJob.objects.filter(business=business), job_id=job_id)


# --- Worker side --------------------------------------------------------------------


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
    if not guarded_job_claim(model=BackgroundJob, job_id=job_id):
        return None
    return BackgroundJob.objects.select_related("business").get(pk=job_id)


def background_job_heartbeat(*, job: BackgroundJob, done: int, total: int | None = None, result=None) -> None:
    """Heartbeat with progress; raise JobInterrupted if the job was lost or must stop now."""
    changes = {"progress_done": done}
    if total is not None:
        changes["progress_total"] = total
    if result is not None:
        changes["result"] = result
    guarded_job_heartbeat(job=job, **changes)
    job.progress_done = done
    if total is not None:
        job.progress_total = total
    guarded_job_raise_if_cancel_requested(job=job)


def background_job_finish(*, job: BackgroundJob, status: str, message: str = "", result: dict | None = None) -> bool:
    """Finish a running job. False if it was no longer ours (failed as stale meanwhile)."""
    changes = {} if result is None else {"result": result}
    return guarded_job_finish(job=job, status=status, message=message, **changes)


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
