"""The one service behind the file and prepare endpoints: no job, fresh job, stuck job,
creation failure, final failure, not found."""

import pytest
from django.db import DatabaseError
from django_q.models import OrmQ, Schedule

from recordings import services
from recordings.models import RecordingRun
from tests.plugins.recordings import recording_create, run_create

pytestmark = pytest.mark.django_db
Status = RecordingRun.Status
ENDPOINTS = [
    pytest.param(lambda api, sid: api.get(f"/api/recordings/file/{sid}"), id="file"),
    pytest.param(lambda api, sid: api.post(f"/api/recordings/{sid}/prepare"), id="prepare"),
]


def active_runs(recording):
    return RecordingRun.objects.filter(recording=recording, status__in=RecordingRun.ACTIVE_STATUSES)


@pytest.mark.parametrize("request_recording", ENDPOINTS)
def test_no_job_yet_creates_one_and_answers_202(api, recording, request_recording, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = request_recording(api, recording.call_sid)
    assert response.status_code == 202
    assert response["Retry-After"] == "3"
    run = active_runs(recording).get()
    assert response.json() == {"job_id": run.pk, "status": "queued", "call_sid": recording.call_sid, "retry_after": 3}
    assert len(callbacks) == 1
    assert OrmQ.objects.count() == 1  # the download task is queued once the run is committed


@pytest.mark.parametrize("request_recording", ENDPOINTS)
@pytest.mark.parametrize("old_status", ["queued", "running"])
def test_job_stuck_six_minutes_is_failed_naming_its_status_and_replaced(api, recording, old_status, request_recording):
    stuck = run_create(recording=recording, status=old_status, minutes_old=6)

    response = request_recording(api, recording.call_sid)

    assert response.status_code == 202
    assert response["Retry-After"] == "3"
    stuck.refresh_from_db()
    assert stuck.status == Status.FAILED and stuck.finished_at is not None
    assert old_status in stuck.error_message
    new = active_runs(recording).get()
    assert new.pk != stuck.pk and new.status == Status.QUEUED
    assert response.json()["job_id"] == new.pk


@pytest.mark.parametrize("request_recording", ENDPOINTS)
@pytest.mark.parametrize("old_status", ["queued", "running"])
def test_job_four_minutes_old_is_answered_as_is(api, recording, old_status, request_recording):
    active = run_create(recording=recording, status=old_status, minutes_old=4)

    response = request_recording(api, recording.call_sid)

    assert response.status_code == 202
    assert response["Retry-After"] == "3"
    assert response.json()["job_id"] == active.pk and response.json()["status"] == old_status
    assert RecordingRun.objects.filter(recording=recording).count() == 1


def test_running_job_judged_by_heartbeat_not_age(api, recording):
    from django.utils import timezone

    old_but_alive = run_create(recording=recording, status="running", minutes_old=30, heartbeat_at=timezone.now())
    response = api.get(f"/api/recordings/file/{recording.call_sid}")
    assert response.json()["job_id"] == old_but_alive.pk
    assert RecordingRun.objects.filter(recording=recording).count() == 1


def test_hebrew_is_the_default_language_of_the_stuck_message(api, recording):
    stuck = run_create(recording=recording, status="queued", minutes_old=6)
    api.get(f"/api/recordings/file/{recording.call_sid}", HTTP_ACCEPT_LANGUAGE="he")
    stuck.refresh_from_db()
    assert "queued" in stuck.error_message
    assert any("\u0590" <= char <= "\u05ff" for char in stuck.error_message)


@pytest.mark.parametrize("old_status", ["queued", "running"])
def test_failure_to_create_the_new_job_is_503_and_leaves_no_active_job(api, recording, monkeypatch, old_status):
    stuck = run_create(recording=recording, status=old_status, minutes_old=6)

    real_insert, inserts = services._run_insert, []

    def insert_fails_once_the_stuck_job_is_failed(**kwargs):
        inserts.append(kwargs)
        if len(inserts) == 1:
            return real_insert(**kwargs)  # meets the stuck job: IntegrityError, the job is failed
        raise DatabaseError("could not extend file: No space left on device")

    monkeypatch.setattr(services, "_run_insert", insert_fails_once_the_stuck_job_is_failed)
    response = api.get(f"/api/recordings/file/{recording.call_sid}", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "service_unavailable"
    assert "Could not start downloading the recording" in body["error"]
    assert "No space left on device" in body["error"]
    assert len(inserts) == 2
    assert not active_runs(recording).exists()
    stuck.refresh_from_db()
    assert stuck.status == Status.FAILED and old_status in stuck.error_message


def test_after_max_failed_attempts_a_final_error_and_no_new_job(api, recording, settings):
    settings.RECORDING_MAX_FAILED_RUNS = 3
    for _ in range(3):
        run_create(recording=recording, status="failed", minutes_old=1, error_message="Twilio refused")

    response = api.post(f"/api/recordings/{recording.call_sid}/prepare", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "recording_unavailable"
    assert body["attempts"] == 3 and body["last_error"] == "Twilio refused"
    assert "after 3 attempts" in body["error"]
    assert not active_runs(recording).exists()
    assert api.get(f"/api/recordings/file/{recording.call_sid}").status_code == 409


def test_a_stuck_job_that_is_the_last_allowed_attempt_ends_in_the_final_error(api, recording, settings):
    settings.RECORDING_MAX_FAILED_RUNS = 2
    run_create(recording=recording, status="failed", minutes_old=10)
    stuck = run_create(recording=recording, status="running", minutes_old=6)

    response = api.get(f"/api/recordings/file/{recording.call_sid}")

    assert response.status_code == 409 and response.json()["code"] == "recording_unavailable"
    stuck.refresh_from_db()
    assert stuck.status == Status.FAILED  # kept failed although no successor was created
    assert not active_runs(recording).exists()


def test_staff_force_resets_the_attempts_and_starts_a_job(recording, settings, admin_client):
    settings.RECORDING_MAX_FAILED_RUNS = 1
    run_create(recording=recording, status="failed", minutes_old=1)
    response = admin_client.post(
        "/admin/recordings/recording/", {"action": "force_download", "_selected_action": [recording.pk]}
    )
    assert response.status_code == 302
    run = active_runs(recording).get()
    assert run.created_by is not None
    recording.refresh_from_db()
    assert recording.attempts_reset_at is not None


def test_unknown_call_other_business_and_call_without_recording_are_404(api, other_api, recording):
    unknown = api.get("/api/recordings/file/CAunknown", HTTP_ACCEPT_LANGUAGE="en")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": "No recording was found for this call.",
        "code": "not_found",
        "call_sid": "CAunknown",
    }
    assert other_api.get(f"/api/recordings/file/{recording.call_sid}").status_code == 404
    assert other_api.post(f"/api/recordings/{recording.call_sid}/prepare").status_code == 404
    assert not RecordingRun.objects.exists()


def test_business_can_be_named_in_the_query_for_members_only(api, other_business, recording):
    own = api.get(f"/api/recordings/file/{recording.call_sid}?business_id={recording.business_id}")
    assert own.status_code == 202
    foreign = api.get(f"/api/recordings/file/{recording.call_sid}?business_id={other_business.pk}")
    assert foreign.status_code == 403


def test_cleanup_fails_stuck_jobs_of_every_business(business, other_business):
    from recordings.tasks import cleanup_stuck_recording_jobs

    stuck_here = run_create(recording=recording_create(business=business), status="queued", minutes_old=6)
    stuck_there = run_create(recording=recording_create(business=other_business), status="running", minutes_old=7)
    fresh = run_create(recording=recording_create(business=business, call_sid="CAfresh"), minutes_old=4)

    assert cleanup_stuck_recording_jobs() == 2

    for run, status in ((stuck_here, "failed"), (stuck_there, "failed"), (fresh, "queued")):
        run.refresh_from_db()
        assert run.status == status
    stuck_there.refresh_from_db()
    assert "running" in stuck_there.error_message


def test_cleanup_is_registered_as_a_schedule():
    from callcenter.schedules import schedules_ensure

    schedules_ensure()
    assert Schedule.objects.filter(
        name="cleanup_stuck_recording_jobs", func="recordings.tasks.cleanup_stuck_recording_jobs"
    ).exists()


def test_task_paths_name_the_real_functions():
    from django.utils.module_loading import import_string

    from recordings import tasks
    from recordings.schedules import SCHEDULES

    assert import_string(services.DOWNLOAD_TASK) is tasks.recording_download
    assert [import_string(entry["func"]) for entry in SCHEDULES] == [tasks.cleanup_stuck_recording_jobs]
