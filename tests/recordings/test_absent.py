"""A recording Twilio reports absent: recorded as such, never downloaded, and clients are
told it does not exist (the player in a browser: tests/recordings/test_player_browser.py)."""

import pytest
from twilio.request_validator import RequestValidator

from recordings.models import Recording, RecordingRun

TOKEN = "recording-webhook-token-0123456789"
PUBLIC = "https://calls.example.com"
CALL_SID = "CA" + "a" * 32
RECORDING_SID = "RE" + "b" * 32


@pytest.fixture
def post_signed(client, settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = PUBLIC

    def post(business, status: str):
        path = f"/webhooks/twilio/recording-status?business_id={business.pk}"
        data = {"CallSid": CALL_SID, "RecordingSid": RECORDING_SID, "RecordingStatus": status, "RecordingDuration": "0"}
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, data)
        return client.post(path, data, HTTP_X_TWILIO_SIGNATURE=signature)

    return post


@pytest.mark.django_db
def test_absent_recording_is_recorded_and_no_download_starts(business, api, post_signed):
    assert post_signed(business, "in-progress").status_code == 204
    assert post_signed(business, "absent").status_code == 204
    assert post_signed(business, "absent").status_code == 204  # Twilio may repeat it

    recording = Recording.objects.get(business=business, call_sid=CALL_SID)
    assert recording.absent_at is not None and not recording.is_ready
    for response in (api.post(f"/api/recordings/{CALL_SID}/prepare"), api.get(f"/api/recordings/file/{CALL_SID}")):
        assert response.status_code == 404
        assert response.json()["code"] == "recording_absent"
        assert "לא קיימת" in response.json()["error"]
    assert not RecordingRun.objects.exists()


@pytest.mark.django_db
def test_a_completed_report_after_all_starts_the_download(business, post_signed, django_capture_on_commit_callbacks):
    post_signed(business, "absent")
    with django_capture_on_commit_callbacks():
        assert post_signed(business, "completed").status_code == 204
    recording = Recording.objects.get(business=business, call_sid=CALL_SID)
    assert recording.absent_at is None
    assert RecordingRun.objects.filter(recording=recording).count() == 1
