"""The signed recording-status webhook: records the recording once and starts its download."""

import time

import pytest
from django.db import connection
from django_q.models import OrmQ
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from recordings import downloads
from recordings.models import Recording, RecordingRun
from tests.factories import BusinessFactory, MembershipFactory
from tests.plugins.recordings import recording_store, sim_recording

TOKEN = "recording-webhook-token-0123456789"
PUBLIC = "https://calls.example.com"
CALL_SID = "CA" + "a" * 32
RECORDING_SID = "RE" + "b" * 32


def params(**changes) -> dict:
    return {
        "CallSid": CALL_SID,
        "RecordingSid": RECORDING_SID,
        "RecordingStatus": "completed",
        "RecordingDuration": "42",
        **changes,
    }


@pytest.fixture
def post_signed(client, settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = PUBLIC

    def post(path: str, data: dict, *, signed_path: str | None = None):
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + (signed_path or path), data)
        return client.post(path, data, HTTP_X_TWILIO_SIGNATURE=signature)

    return post


def url(business_id) -> str:
    return f"/webhooks/twilio/recording-status?business_id={business_id}"


@pytest.mark.django_db
def test_completed_recording_is_recorded_and_its_download_started(
    business, post_signed, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(url(business.pk), params())
    assert response.status_code == 204
    recording = Recording.objects.get(business=business, call_sid=CALL_SID)
    assert recording.recording_sid == RECORDING_SID and recording.duration_seconds == 42
    run = RecordingRun.objects.get(recording=recording)
    assert run.status == "queued"
    assert OrmQ.objects.count() == 1


@pytest.mark.django_db
def test_a_repeated_callback_changes_nothing(business, post_signed):
    for _ in range(3):
        assert post_signed(url(business.pk), params()).status_code == 204
    assert Recording.objects.count() == 1
    assert RecordingRun.objects.count() == 1


@pytest.mark.django_db
def test_a_downloaded_recording_keeps_its_file_and_starts_nothing(business, post_signed, media_root):
    recording = recording_store(
        Recording.objects.create(business=business, call_sid=CALL_SID, recording_sid=RECORDING_SID), b"audio"
    )
    assert post_signed(url(business.pk), params(RecordingSid="RE" + "c" * 32)).status_code == 204
    recording.refresh_from_db()
    assert recording.recording_sid == RECORDING_SID and recording.is_ready
    assert not RecordingRun.objects.exists()


@pytest.mark.django_db
def test_unsigned_or_forged_callbacks_are_403(business, other_business, post_signed, client):
    assert client.post(url(business.pk), params()).status_code == 403
    # Signed for one business, replayed for another: the signature covers the query.
    assert post_signed(url(other_business.pk), params(), signed_path=url(business.pk)).status_code == 403
    assert not Recording.objects.exists()


@pytest.mark.django_db
def test_bad_callbacks_are_acknowledged_and_record_nothing(business, post_signed):
    # Signed but malformed: a retry would not fix it, so it is acknowledged and ignored.
    assert post_signed("/webhooks/twilio/recording-status", params()).status_code == 204
    assert post_signed(url("x"), params()).status_code == 204
    assert post_signed(url(999999), params()).status_code == 204
    assert post_signed(url(business.pk), params(RecordingSid="")).status_code == 204
    assert not Recording.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["in-progress", "failed"])
def test_recordings_without_audio_start_nothing(business, post_signed, status):
    assert post_signed(url(business.pk), params(RecordingStatus=status)).status_code == 204
    assert not Recording.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_simulated_call_to_playable_file_end_to_end(live_server, twilio_sim, settings, media_root):
    """The simulator signs its recording callback to our live server; the task downloads
    the media; the file endpoint serves it."""
    settings.PUBLIC_BASE_URL = live_server.url
    business = BusinessFactory()
    user = MembershipFactory(business=business).user
    callback = f"{live_server.url}{url(business.pk)}"

    call_sid, recording_sid = sim_recording(twilio_sim, recording_status_callback_url=callback)

    deadline = time.monotonic() + 10
    while not RecordingRun.objects.filter(call_sid=call_sid).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    run = RecordingRun.objects.get(business=business, call_sid=call_sid)
    assert Recording.objects.get(business=business, call_sid=call_sid).recording_sid == recording_sid

    assert downloads.recording_run_execute(run_id=run.pk) == "succeeded"

    api = APIClient()
    api.force_authenticate(user)
    response = api.get(f"/api/recordings/file/{call_sid}", HTTP_RANGE="bytes=0-3")
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == b"\xff\xfb\x90\xc0"  # an MPEG audio frame header
    connection.close()
