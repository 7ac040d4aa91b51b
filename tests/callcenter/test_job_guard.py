from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_q.models import OrmQ

from callcenter import services
from callcenter.errors import ActiveJobExists
from callcenter.models import BackgroundJob
from tests.factories import BackgroundJobFactory

pytestmark = pytest.mark.django_db
JobType, Status = BackgroundJob.JobType, BackgroundJob.Status


def aged(job: BackgroundJob, minutes: int) -> BackgroundJob:
    BackgroundJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=minutes))
    job.refresh_from_db()
    return job


def test_raw_sql_second_active_job_is_rejected(business):
    insert = """
        INSERT INTO background_jobs
          (business_id, job_type, status, progress_done, payload, result, error_message, created_at, heartbeat_at)
        VALUES (%s, 'delete_leads', %s, 0, '{}', '{}', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)
    """
    with connection.cursor() as cursor:
        cursor.execute(insert, [business.pk, "queued"])
        # SQLite names the index's columns, PostgreSQL the index.
        violation = "idx_background_jobs_unique_active|background_jobs.business_id, background_jobs.job_type"
        with pytest.raises(IntegrityError, match=violation), transaction.atomic():
            cursor.execute(insert, [business.pk, "running"])


def test_no_active_job_creates_one(business, member):
    job = services.background_job_start(business=business, job_type=JobType.DELETE_LEADS, created_by=member)
    assert job.status == Status.QUEUED and job.created_by == member


def test_fresh_active_job_blocks_with_its_id_and_status(business):
    first = services.background_job_start(business=business, job_type=JobType.UPDATE_LEADS)
    BackgroundJob.objects.filter(pk=first.pk).update(status=Status.RUNNING, started_at=timezone.now())
    aged(first, 9)
    with pytest.raises(ActiveJobExists) as raised:
        services.background_job_start(business=business, job_type=JobType.UPDATE_LEADS)
    assert raised.value.extra == {"job_id": first.pk, "status": "running"}
    assert BackgroundJob.objects.filter(business=business).count() == 1


@pytest.mark.parametrize("old_status", ["queued", "running"])
def test_stale_job_is_failed_naming_its_old_status_and_replaced(business, old_status):
    stale = aged(BackgroundJobFactory(business=business, job_type=JobType.DELETE_LEADS, status=old_status), 11)
    new = services.background_job_start(business=business, job_type=JobType.DELETE_LEADS)
    stale.refresh_from_db()
    assert stale.status == Status.FAILED and stale.finished_at is not None
    assert old_status in stale.error_message
    assert new.pk != stale.pk and new.status == Status.QUEUED


def test_finished_jobs_never_block(business):
    for status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED):
        BackgroundJobFactory(business=business, status=status, finished_at=timezone.now())
    assert services.background_job_start(business=business, job_type=JobType.DELETE_LEADS).status == Status.QUEUED


def test_other_types_and_businesses_do_not_block(business, other_business):
    services.background_job_start(business=business, job_type=JobType.DELETE_LEADS)
    services.background_job_start(business=business, job_type=JobType.UPDATE_LEADS)
    services.background_job_start(business=other_business, job_type=JobType.DELETE_LEADS)
    assert BackgroundJob.objects.filter(status=Status.QUEUED).count() == 3


def test_error_after_creation_in_the_same_transaction_leaves_no_job(business, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.background_job_start(
            business=business, job_type=JobType.DELETE_LEADS, task="callcenter.tasks.fail_stale_background_jobs"
        )
        raise RuntimeError("something after the job failed")
    assert not BackgroundJob.objects.exists()
    assert callbacks == [] and not OrmQ.objects.exists()
    # And the next attempt is not blocked by a ghost.
    services.background_job_start(business=business, job_type=JobType.DELETE_LEADS)


def test_task_is_enqueued_only_on_commit(business, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = services.background_job_start(
            business=business, job_type=JobType.DELETE_LEADS, task="callcenter.tasks.fail_stale_background_jobs"
        )
        assert not OrmQ.objects.exists()
    assert len(callbacks) == 1
    callbacks[0]()
    assert OrmQ.objects.count() == 1
    assert job.pk


def test_stale_recovery_tells_the_owner_app(business):
    from callcenter.signals import job_abandoned

    seen = []

    def receiver(sender, job, **kwargs):
        seen.append((sender, job.job_type, job.pk, job.status))

    job_abandoned.connect(receiver)
    try:
        stale = aged(BackgroundJobFactory(business=business, job_type=JobType.ENQUEUE_OUTBOUND_CALLS), 30)
        services.background_job_start(business=business, job_type=JobType.ENQUEUE_OUTBOUND_CALLS)
    finally:
        job_abandoned.disconnect(receiver)
    assert seen == [(BackgroundJob, "enqueue_outbound_calls", stale.pk, "failed")]
