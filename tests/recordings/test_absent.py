"""A recording Twilio reports absent: recorded as such, never downloaded, and the player
says it does not exist instead of waiting for it."""

import time

import pytest
from twilio.request_validator import RequestValidator

from callcenter import twilio_gateway
from recordings.models import Recording, RecordingRun
from tests.factories import BusinessFactory, MembershipFactory
from tests.recordings.test_player_browser import PlayerSession, chromium, fast_player  # noqa: F401

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


@pytest.mark.django_db(transaction=True)
@pytest.mark.twilio_sim(recording_absent_rate=1.0)
def test_simulated_absent_recording_the_player_says_it_does_not_exist_and_stops(
    chromium,  # noqa: F811
    live_server,
    twilio_sim,
    settings,
    fast_player,  # noqa: F811
):
    settings.PUBLIC_BASE_URL = live_server.url
    business = BusinessFactory()
    user = MembershipFactory(business=business).user
    nowhere = "http://127.0.0.1:9/ignored"
    call = twilio_gateway.call_create(
        to="+972501234567",
        twiml_url=nowhere,
        status_callback_url=nowhere,
        record=True,
        recording_status_callback_url=twilio_gateway.public_url(
            f"/webhooks/twilio/recording-status?business_id={business.pk}"
        ),
    )
    assert twilio_sim.wait_idle(timeout=20)
    [sim_recording] = [r for r in twilio_sim.recordings() if r["call_sid"] == call.sid]
    assert sim_recording["status"] == "absent"
    assert [c["http_status"] for c in twilio_sim.call(call.sid)["callbacks"] if c["kind"] == "recording"] == [204, 204]
    recording = Recording.objects.get(business=business, call_sid=call.sid)
    assert recording.absent_at is not None

    session = PlayerSession(chromium, live_server, user, locale="he-IL")
    session.open(call.sid)
    session.wait_until(lambda: session.state() == "error")
    time.sleep(0.5)  # several of the player's (scaled) waits: it asks no more

    assert "לא קיימת" in session.status_text()
    assert session.prepare_answers == [(404, None)]
    assert not RecordingRun.objects.filter(call_sid=call.sid).exists()  # no download, none retried
    assert sim_recording["fetches"] == 0
    session.context.close()
