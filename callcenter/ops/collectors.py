"""Gauges read from the database at scrape time.

Current state is the database's, not one process's: any host's `/metrics` answers the same
figures (sum counters across hosts; take max, not sum, of these gauges). Each scrape runs a
handful of small aggregate queries: active calls by the partial index over active jobs,
runs and background jobs grouped by state, active download runs, the broker's queue size.
"""

from __future__ import annotations

import logging

from django.apps import apps
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)


def _count_by_status(name: str, documentation: str, model, statuses) -> GaugeMetricFamily:
    """One sample per status, zeros included, from one grouped query over those statuses only
    (for active work that query reads the partial index over active rows)."""
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    counts = dict(
        model.objects.filter(status__in=statuses)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    for status in statuses:
        family.add_metric([str(status)], counts.get(status, 0))
    return family


class DatabaseStateCollector:
    """calls in progress, runs by state, jobs by type and state, task queue depth."""

    def describe(self):
        # Nothing at registration time: no query may run while the registry is assembled.
        return []

    def collect(self):
        up = GaugeMetricFamily("callcenter_state_collector_up", "1 when the state gauges below could be read.")
        try:
            families = list(self._families())
        except Exception as exc:  # the scrape still answers, and says the state is unknown
            logger.warning("state gauges unavailable: %s", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self):
        call_job = apps.get_model("outbound", "OutboundCallJob")
        run = apps.get_model("outbound", "OutboundCallRun")
        background_job = apps.get_model("callcenter", "BackgroundJob")
        recording_run = apps.get_model("recordings", "RecordingRun")

        yield _count_by_status(
            "callcenter_calls_in_progress",
            "Outbound calls dialing or in a call, by status.",
            call_job,
            call_job.ACTIVE_STATUSES,
        )
        yield _count_by_status("callcenter_outbound_runs", "Outbound call runs by state.", run, run.Status.values)

        jobs = GaugeMetricFamily(
            "callcenter_background_jobs", "Guarded background jobs by type and state.", labels=["job_type", "status"]
        )
        counts = {
            (job_type, status): n
            for job_type, status, n in background_job.objects.values_list("job_type", "status")
            .annotate(n=Count("id"))
            .values_list("job_type", "status", "n")
        }
        for job_type in background_job.JobType.values:
            for status in background_job.Status.values:
                jobs.add_metric([job_type, status], counts.get((job_type, status), 0))
        yield jobs

        yield _count_by_status(
            "callcenter_recording_downloads_active",
            "Recording download runs queued or running.",
            recording_run,
            recording_run.ACTIVE_STATUSES,
        )

        yield GaugeMetricFamily(
            "callcenter_task_queue_depth", "Tasks waiting in the django-q2 broker.", value=_task_queue_depth()
        )
        yield GaugeMetricFamily(
            "callcenter_scheduler_overdue_seconds",
            "How late the most overdue django-q2 schedule is (0 when the scheduler keeps up).",
            value=scheduler_overdue_seconds(),
        )


def _task_queue_depth() -> int:
    from django_q.brokers import get_broker

    return int(get_broker().queue_size() or 0)


def scheduler_overdue_seconds(now=None) -> float:
    """Seconds since the oldest due schedule should have run; 0 when none is due."""
    from django_q.models import Schedule

    now = now or timezone.now()
    oldest = (
        Schedule.objects.filter(next_run__lt=now)
        .exclude(repeats=0)
        .order_by("next_run")
        .values_list("next_run", flat=True)
        .first()
    )
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
