"""Outbound's answers to other apps' signals (connected in OutboundConfig.ready)."""

import threading

from callcenter.models import BackgroundJob
from outbound import services


def fail_run_of_abandoned_job(sender, job, **kwargs) -> None:
    # Every abandoned background job comes through here; only a run's job is ours.
    if job.job_type == BackgroundJob.JobType.ENQUEUE_OUTBOUND_CALLS:
        services.run_fail_abandoned(job=job)


def release_calls_of_deleted_leads(sender, business, lead_ids, **kwargs) -> set[int]:
    return services.lead_calls_release_for_delete(business=business, lead_ids=list(lead_ids))


def start_wakeup_pump(sender, proc_name, **kwargs) -> None:
    # Sent in every qcluster worker process as it starts: each one hands due wake-ups to
    # the queue, so they go on while any worker of any host is alive.
    stop = threading.Event()
    threading.Thread(
        target=services.wakeup_pump, kwargs={"stop": stop}, name="outbound-wakeup-pump", daemon=True
    ).start()
