"""Error classification of the gateway against the simulator's failure modes."""

import time

import pytest

from callcenter import twilio_gateway
from callcenter.twilio_gateway import PermanentTwilioError, RetryableTwilioError


def _create(receiver, to="+972501234567"):
    return twilio_gateway.call_create(
        to=to, twiml_url=receiver.url("/twiml"), status_callback_url=receiver.url("/status")
    )


@pytest.mark.twilio_sim(calls_per_second=1, rate_limit_mode="reject")
def test_rate_limit_mode_raises_retryable_with_code_20429(twilio_sim, twilio_callback_receiver):
    _create(twilio_callback_receiver)

    with pytest.raises(RetryableTwilioError) as caught:
        _create(twilio_callback_receiver)

    assert caught.value.code == 20429
    assert caught.value.http_status == 429
    assert caught.value.retryable is True
    assert caught.value.message == "Too Many Requests"
    assert len(twilio_sim.calls()) == 1


# A low rate, so that creating the calls (slow on a busy machine) takes less than queueing them.
@pytest.mark.twilio_sim(calls_per_second=4, rate_limit_mode="queue")
def test_queue_mode_accepts_every_call_and_dials_them_at_the_account_rate(twilio_sim, twilio_callback_receiver):
    sids = [_create(twilio_callback_receiver, to=f"+97250000{i:04d}").sid for i in range(5)]
    assert twilio_sim.wait_idle()

    calls = [twilio_sim.call(sid) for sid in sids]
    assert all(call["status"] == "completed" for call in calls)
    # At 4 calls per second the n-th call is dialed no sooner than n * 250 ms after the first was created.
    first_created = calls[0]["created_at"]
    starts = sorted(call["started_at"] for call in calls)
    assert all(start >= first_created + n * 0.25 - 0.001 for n, start in enumerate(starts))
    waited = starts[-1] - calls[-1]["created_at"]
    assert waited > 0.1
    # What the resource reports: the planned wait (the actual start may come a little later on a busy machine).
    assert 100 < calls[-1]["queue_time_ms"] <= waited * 1000 + 5


def test_invalid_number_raises_permanent_with_twilios_code_and_message(twilio_sim, twilio_callback_receiver):
    with pytest.raises(PermanentTwilioError) as caught:
        _create(twilio_callback_receiver, to="0501234567")

    assert caught.value.code == 21211
    assert caught.value.http_status == 400
    assert caught.value.retryable is False
    assert caught.value.message == "Invalid 'To' Phone Number: 0501234567"
    assert twilio_sim.calls() == []


def test_configured_invalid_and_unreachable_numbers_are_permanent(twilio_sim, twilio_callback_receiver):
    twilio_sim.configure(invalid_numbers=["+972509999999"])

    with pytest.raises(PermanentTwilioError) as invalid:
        _create(twilio_callback_receiver, to="+972509999999")
    with pytest.raises(PermanentTwilioError) as unreachable:
        _create(twilio_callback_receiver, to="+15005550002")

    assert invalid.value.code == 21211
    assert unreachable.value.code == 21214


@pytest.mark.twilio_sim(server_error_rate=1.0)
def test_server_errors_are_retryable(twilio_sim, twilio_callback_receiver):
    with pytest.raises(RetryableTwilioError) as caught:
        _create(twilio_callback_receiver)

    assert caught.value.http_status == 500
    assert caught.value.code == 20500
    assert twilio_sim.calls() == []


@pytest.mark.twilio_sim(hang_seconds=5)
def test_hung_twilio_times_out_within_the_configured_limit(settings, twilio_sim, twilio_callback_receiver):
    settings.TWILIO_TIMEOUT_SECONDS = 0.3
    began = time.monotonic()

    with pytest.raises(RetryableTwilioError) as caught:
        _create(twilio_callback_receiver)

    assert time.monotonic() - began < 1.5
    assert "did not answer" in caught.value.message
    assert caught.value.http_status is None


def test_wrong_credentials_are_permanent_401(settings, twilio_sim, twilio_callback_receiver):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"

    with pytest.raises(PermanentTwilioError) as caught:
        _create(twilio_callback_receiver)

    assert caught.value.http_status == 401
    assert caught.value.code == 20003


def test_unknown_call_is_permanent_404(twilio_sim):
    with pytest.raises(PermanentTwilioError) as caught:
        twilio_gateway.call_fetch(call_sid="CA" + "0" * 32)

    assert caught.value.http_status == 404
    assert caught.value.code == 20404


def test_unreachable_twilio_is_a_retryable_connection_error(settings, twilio_sim):
    twilio_sim.stop()

    with pytest.raises(RetryableTwilioError) as caught:
        twilio_gateway.call_fetch(call_sid="CA" + "0" * 32)

    assert "Could not reach Twilio" in caught.value.message


def test_missing_credentials_are_permanent(settings):
    settings.TWILIO_ACCOUNT_SID = ""

    with pytest.raises(PermanentTwilioError):
        twilio_gateway.call_fetch(call_sid="CA" + "0" * 32)


def test_public_url_joins_base_and_path(settings):
    settings.PUBLIC_BASE_URL = "https://calls.example.com/"

    assert (
        twilio_gateway.public_url("/webhooks/twilio/voice?job=1")
        == "https://calls.example.com/webhooks/twilio/voice?job=1"
    )
