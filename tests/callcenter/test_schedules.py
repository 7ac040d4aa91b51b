from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from callcenter.models import BackgroundJob
from callcenter.tasks import fail_stale_background_jobs
from tests.factories import BackgroundJobFactory, BusinessFactory

pytestmark = pytest.mark.django_db


def test_setup_schedules_is_idempotent():
    call_command("setup_schedules")
    call_command("setup_schedules")
    schedules = Schedule.objects.filter(name="fail_stale_background_jobs")
    assert schedules.count() == 1
    assert schedules.get().func == "callcenter.tasks.fail_stale_background_jobs"
    assert Schedule.objects.count() == len({s.name for s in Schedule.objects.all()})


def test_stale_task_fails_stale_jobs_across_businesses_only():
    old = timezone.now() - timedelta(minutes=11)
    stale = [
        BackgroundJobFactory(business=BusinessFactory(), status=status, heartbeat_at=old)
        for status in ("queued", "running")
    ]
    fresh = BackgroundJobFactory(business=BusinessFactory(), status="running")
    finished = BackgroundJobFactory(business=BusinessFactory(), status="succeeded", finished_at=old, heartbeat_at=old)
    assert fail_stale_background_jobs() == 2
    for job, old_status in zip(stale, ("queued", "running"), strict=True):
        job.refresh_from_db()
        assert job.status == BackgroundJob.Status.FAILED and old_status in job.error_message
    fresh.refresh_from_db()
    finished.refresh_from_db()
    assert fresh.status == "running" and finished.status == "succeeded"
