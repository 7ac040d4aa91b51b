"""Outbound's answers to other apps' signals (connected in OutboundConfig.ready)."""

from callcenter.models import BackgroundJob
from outbound import services


def fail_run_of_abandoned_job(sender, job, **kwargs) -> None:
    # Every abandoned background job comes through here; only a run's job is ours.
    if job.job_type == BackgroundJob.JobType.ENQUEUE_OUTBOUND_CALLS:
        services.run_fail_abandoned(job=job)


def release_calls_of_deleted_leads(sender, business, lead_ids, **kwargs) -> set[int]:
    return services.lead_calls_release_for_delete(business=business, lead_ids=list(lead_ids))
