"""Signed callbacks with values no Twilio callback has are acknowledged (204) and ignored with
a warning: never a 5xx that would make Twilio send them again, nothing stored."""

import logging

import pytest
from django.conf import settings
from twilio.request_validator import RequestValidator

from outbound.models import CallEvent
from recordings.models import Recording


def signed_post(client, path: str, params: dict):
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(settings.PUBLIC_BASE_URL + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


@pytest.fixture(autouse=True)
def auth_token(settings):
    settings.TWILIO_AUTH_TOKEN = "test-auth-token"


GOOD_STATUS = {"CallSid": "CA" + "a" * 32, "CallStatus": "completed", "SequenceNumber": "1"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "params"),
    [
        ("job_id=1&claim=1", {**GOOD_STATUS, "SequenceNumber": str(2**31)}),
        ("job_id=1&claim=1", {**GOOD_STATUS, "CallSid": "CA" + "b" * 198}),
        ("job_id=1&claim=1", {**GOOD_STATUS, "CallStatus": "c" * 100}),
        ("job_id=1&claim=1", {**GOOD_STATUS, "CallStatus": "completed\x00"}),
        ("job_id=1&claim=1", {**GOOD_STATUS, "To": "+97250\x00"}),
        ("job_id=1&claim=-1", GOOD_STATUS),
        ("job_id=1&claim=99999999999999999999", GOOD_STATUS),
        ("job_id=99999999999999999999999", GOOD_STATUS),
        ("job_id=1&claim=1", {**GOOD_STATUS, "CallDuration": "9" * 20}),
        ("job_id=1&claim=1", {**GOOD_STATUS, "AnsweredBy": "m" * 200}),
    ],
)
def test_out_of_range_status_callbacks_are_acknowledged_and_ignored(client, caplog, query, params):
    with caplog.at_level(logging.WARNING):
        response = signed_post(client, f"/webhooks/twilio/call-status?{query}", params)
    assert response.status_code == 204
    assert not CallEvent.objects.exists()
    assert any("ignored a signed Twilio callback" in record.getMessage() for record in caplog.records)


GOOD_RECORDING = {"CallSid": "CA" + "a" * 32, "RecordingSid": "RE" + "b" * 32, "RecordingStatus": "completed"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {**GOOD_RECORDING, "CallSid": "CA" + "x" * 198},
        {**GOOD_RECORDING, "RecordingSid": "RE" + "y" * 198},
        {**GOOD_RECORDING, "RecordingDuration": "9" * 20},
        {**GOOD_RECORDING, "RecordingDuration": "-3"},
        {**GOOD_RECORDING, "CallSid": "CA\x00"},
        {**GOOD_RECORDING, "RecordingStatus": "s" * 100},
    ],
)
def test_out_of_range_recording_callbacks_are_acknowledged_and_ignored(client, business, caplog, params):
    with caplog.at_level(logging.WARNING):
        response = signed_post(client, f"/webhooks/twilio/recording-status?business_id={business.pk}", params)
    assert response.status_code == 204
    assert not Recording.objects.exists()
    assert any("ignored a signed Twilio callback" in record.getMessage() for record in caplog.records)


@pytest.mark.django_db
def test_voice_twiml_declares_utf8(client):
    response = signed_post(client, "/webhooks/twilio/voice?job_id=1", {"CallSid": "CA1"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert "שלום".encode() in response.content
