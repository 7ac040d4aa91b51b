"""Real threads against PostgreSQL: the partial unique index and the row lock decide."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from callcenter import guarded_jobs
from recordings.models import RecordingRun
from tests.factories import BusinessFactory, MembershipFactory
from tests.plugins.recordings import recording_create, run_create

Status = RecordingRun.Status


def poll_concurrently(*, user, call_sid: str, count: int) -> list:
    barrier = threading.Barrier(count)
    responses, errors = [None] * count, []

    def poll(index: int) -> None:
        try:
            client = APIClient()
            client.force_authenticate(user)
            barrier.wait(timeout=10)
            responses[index] = client.get(f"/api/recordings/file/{call_sid}")
        except Exception as error:  # reported below: a thread's failure must fail the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=poll, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return responses


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("old_status", ["queued", "running"])
def test_concurrent_requests_for_a_stuck_job_create_exactly_one_new_job(old_status):
    business = BusinessFactory()
    user = MembershipFactory(business=business).user
    recording = recording_create(business=business)
    stuck = run_create(recording=recording, status=old_status, minutes_old=6)

    responses = poll_concurrently(user=user, call_sid=recording.call_sid, count=8)

    assert [response.status_code for response in responses] == [202] * 8
    assert {response["Retry-After"] for response in responses} == {"3"}
    stuck.refresh_from_db()
    assert stuck.status == Status.FAILED and old_status in stuck.error_message
    runs = RecordingRun.objects.filter(recording=recording).exclude(pk=stuck.pk)
    assert runs.count() == 1
    new = runs.get()
    assert new.status == Status.QUEUED
    assert {response.json()["job_id"] for response in responses} == {new.pk}


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_create_exactly_one_job():
    business = BusinessFactory()
    user = MembershipFactory(business=business).user
    recording = recording_create(business=business)

    responses = poll_concurrently(user=user, call_sid=recording.call_sid, count=8)

    assert [response.status_code for response in responses] == [202] * 8
    run = RecordingRun.objects.get(recording=recording)
    assert {response.json()["job_id"] for response in responses} == {run.pk}


@pytest.mark.django_db(transaction=True)
def test_task_queue_down_answers_503_and_leaves_no_active_job(monkeypatch):
    business = BusinessFactory()
    user = MembershipFactory(business=business).user
    recording = recording_create(business=business)
    stuck = run_create(recording=recording, status="queued", minutes_old=6)

    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(guarded_jobs, "async_task", broker_down)
    client = APIClient()
    client.force_authenticate(user)
    response = client.get(f"/api/recordings/file/{recording.call_sid}", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert "task queue is unavailable" in response.json()["error"]
    assert not RecordingRun.objects.filter(status__in=RecordingRun.ACTIVE_STATUSES).exists()
    stuck.refresh_from_db()
    assert stuck.status == Status.FAILED and "queued" in stuck.error_message
    new = RecordingRun.objects.exclude(pk=stuck.pk).get()
    assert new.status == Status.FAILED and "Connection refused" in new.error_message
