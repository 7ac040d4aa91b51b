"""The guarded-job core behind background jobs and recording download runs."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from callcenter import guarded_jobs, services
from callcenter.errors import ServiceUnavailable
from callcenter.guarded_jobs import JobInterrupted
from callcenter.models import BackgroundJob, GuardedJob
from recordings.models import RecordingRun
from tests.factories import BackgroundJobFactory
from tests.plugins.recordings import recording_create, run_create

pytestmark = pytest.mark.django_db

INDEXES = {
    BackgroundJob: ("idx_background_jobs_unique_active", ("business_id", "job_type")),
    RecordingRun: ("idx_recording_runs_unique_active", ("business_id", "call_sid")),
}


def _index_definition(name: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_get_indexdef(ix.indexrelid) FROM pg_index ix"
                " JOIN pg_class i ON i.oid = ix.indexrelid WHERE i.relname = %s",
                [name],
            )
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s", [name])
        return cursor.fetchone()[0].replace('"', "")


@pytest.mark.parametrize("model", [BackgroundJob, RecordingRun], ids=lambda model: model.__name__)
def test_both_models_share_the_lifecycle_and_keep_their_partial_unique_index(model):
    assert issubclass(model, GuardedJob)
    name, columns = INDEXES[model]
    definition = _index_definition(name)
    assert definition.startswith(f"CREATE UNIQUE INDEX {name} ON ")
    assert f"({', '.join(columns)})" in definition
    predicate = definition.split(" WHERE ", 1)[1]
    assert "status" in predicate and "'queued'" in predicate and "'running'" in predicate


def test_finished_at_is_set_exactly_when_finished(business):
    job = BackgroundJobFactory(business=business)
    with pytest.raises(IntegrityError, match="background_jobs_finished_at_iff_finished"), transaction.atomic():
        BackgroundJob.objects.filter(pk=job.pk).update(status="succeeded")
    run = run_create(recording=recording_create(business=business), status="queued", minutes_old=0)
    with pytest.raises(IntegrityError, match="recording_runs_finished_at_iff_finished"), transaction.atomic():
        RecordingRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())


def test_one_sweep_rule_for_both_models(business, settings):
    settings.BACKGROUND_JOB_STALE_THRESHOLD_MINUTES = 10
    settings.RECORDING_JOB_TIMEOUT_MINUTES = 5
    silent_job = BackgroundJobFactory(business=business, status="running", started_at=timezone.now())
    BackgroundJob.objects.filter(pk=silent_job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    alive_job = BackgroundJobFactory(business=business, job_type=BackgroundJob.JobType.UPDATE_LEADS)
    recording = recording_create(business=business)
    untouched_run = run_create(recording=recording, status="queued", minutes_old=6)  # no heartbeat yet
    fresh_run = run_create(
        recording=recording_create(business=business, call_sid="CA" + "2" * 32), status="queued", minutes_old=4
    )

    assert guarded_jobs.guarded_jobs_fail_stale(model=BackgroundJob) == 1
    assert guarded_jobs.guarded_jobs_fail_stale(model=RecordingRun) == 1

    for row, status in (
        (silent_job, "failed"),
        (alive_job, "queued"),
        (untouched_run, "failed"),
        (fresh_run, "queued"),
    ):
        row.refresh_from_db()
        assert row.status == status
    assert "running" in silent_job.error_message and "queued" in untouched_run.error_message


def test_heartbeat_of_a_job_failed_behind_its_back_stops_the_worker(business):
    run = run_create(recording=recording_create(business=business), status="running", minutes_old=1)
    RecordingRun.objects.filter(pk=run.pk).update(status="failed", finished_at=timezone.now())
    with pytest.raises(JobInterrupted) as interrupted:
        guarded_jobs.guarded_job_heartbeat(job=run)
    assert interrupted.value.reason == "lost"
    assert guarded_jobs.guarded_job_finish(job=run, status="succeeded") is False
    run.refresh_from_db()
    assert run.status == "failed"


def test_task_queue_down_fails_the_new_background_job(business, monkeypatch, django_capture_on_commit_callbacks):
    def broker_down(*args, **kwargs):
        raise ConnectionError("Connection refused")

    monkeypatch.setattr(guarded_jobs, "async_task", broker_down)
    with pytest.raises(ServiceUnavailable), django_capture_on_commit_callbacks(execute=True):
        services.background_job_start(
            business=business,
            job_type=BackgroundJob.JobType.DELETE_LEADS,
            task="callcenter.tasks.fail_stale_background_jobs",
        )
    job = BackgroundJob.objects.get()
    assert job.status == "failed" and job.finished_at is not None and "Connection refused" in job.error_message
