from datetime import timedelta

import pytest
from django.utils import timezone

from callcenter import services
from callcenter.models import BackgroundJob
from tests.factories import BackgroundJobFactory

pytestmark = pytest.mark.django_db
Status = BackgroundJob.Status


def test_work_that_returns_succeeds_with_its_result_and_progress(business):
    job = BackgroundJobFactory(business=business)

    def work(ctx):
        for done in (10, 20, 30):
            ctx.progress(done=done, total=30)
        return {"deleted": 30}

    assert services.background_job_execute(job_id=job.pk, work=work) == Status.SUCCEEDED
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.result == {"deleted": 30}
    assert (job.progress_done, job.progress_total) == (30, 30)
    assert job.started_at and job.finished_at and job.heartbeat_at >= job.started_at


def test_cancel_request_stops_between_batches_and_keeps_what_was_done(business):
    job = BackgroundJobFactory(business=business)
    batches_done = []

    def work(ctx):
        for batch in range(5):
            batches_done.append(batch)
            ctx.result["deleted"] = len(batches_done) * 100
            if batch == 1:
                services.background_job_request_cancel(business=business, job_id=job.pk)
            ctx.progress(done=len(batches_done) * 100, total=500)
        return ctx.result

    assert services.background_job_execute(job_id=job.pk, work=work) == Status.CANCELLED
    job.refresh_from_db()
    assert batches_done == [0, 1]
    assert job.status == Status.CANCELLED and job.progress_done == 200 and job.result == {"deleted": 200}
    assert "200" in job.error_message


def test_an_exception_fails_the_job_with_its_message(business):
    job = BackgroundJobFactory(business=business)

    def work(ctx):
        raise ValueError("the file vanished")

    assert services.background_job_execute(job_id=job.pk, work=work) == Status.FAILED
    job.refresh_from_db()
    assert job.status == Status.FAILED and "the file vanished" in job.error_message


def test_a_job_taken_over_as_stale_stops_its_old_worker(business):
    job = BackgroundJobFactory(business=business)
    steps = []

    def work(ctx):
        steps.append("first")
        ctx.progress(done=1, total=3)
        # Meanwhile the job is declared abandoned and a replacement starts.
        BackgroundJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
        replacement = services.background_job_start(business=business, job_type=job.job_type)
        steps.append(replacement.pk)
        ctx.progress(done=2, total=3)
        steps.append("never")

    assert services.background_job_execute(job_id=job.pk, work=work) is None
    job.refresh_from_db()
    assert job.status == Status.FAILED and "never" not in steps


def test_a_job_no_longer_queued_is_not_run(business):
    job = BackgroundJobFactory(business=business)
    services.background_job_request_cancel(business=business, job_id=job.pk)
    ran = []
    assert services.background_job_execute(job_id=job.pk, work=lambda ctx: ran.append(1)) is None
    assert ran == []
