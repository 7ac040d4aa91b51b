"""Every callback and recording fault of the simulator, shown by its effect."""

import time

import pytest
import requests

from callcenter import twilio_gateway
from callcenter.twilio_gateway import PermanentTwilioError

FAULT_FREE = ["initiated", "ringing", "in-progress", "completed"]


def _create(receiver, *, to="+972501234567", tag="faults", record=False):
    return twilio_gateway.call_create(
        to=to,
        twiml_url=receiver.url("/twiml"),
        status_callback_url=receiver.url(f"/status/{tag}"),
        record=record,
        recording_status_callback_url=receiver.url(f"/recording/{tag}") if record else None,
    )


def _statuses(receiver, tag="faults"):
    return [(c.params["CallStatus"], int(c.params["SequenceNumber"])) for c in receiver.requests(f"/status/{tag}")]


@pytest.mark.twilio_sim(callback_drop_rate=1.0, callback_fault_events=["completed"])
def test_dropped_callback_never_arrives(twilio_sim, twilio_callback_receiver):
    info = _create(twilio_callback_receiver)
    assert twilio_sim.wait_idle()
    time.sleep(0.2)

    assert _statuses(twilio_callback_receiver) == [("initiated", 0), ("ringing", 1), ("in-progress", 2)]
    # Twilio's side did finish the call: the reconciler's fetch sees it.
    assert twilio_gateway.call_fetch(call_sid=info.sid).status == "completed"
    log = twilio_sim.call(info.sid)["callbacks"]
    assert [(e["event"], e["fault"], e["sent_at"]) for e in log if e["fault"]] == [("completed", "dropped", None)]


@pytest.mark.twilio_sim(callback_duplicate_rate=1.0, callback_fault_events=["ringing", "completed"])
def test_duplicate_arrives_twice_with_the_same_sequence_number(twilio_sim, twilio_callback_receiver):
    _create(twilio_callback_receiver)
    assert twilio_sim.wait_idle()

    received = twilio_callback_receiver.requests("/status/")
    assert _statuses(twilio_callback_receiver) == [
        ("initiated", 0),
        ("ringing", 1),
        ("ringing", 1),
        ("in-progress", 2),
        ("completed", 3),
        ("completed", 3),
    ]
    assert all(c.signature_valid for c in received)
    assert received[1].signature == received[2].signature


@pytest.mark.twilio_sim(callback_reorder_rate=1.0, callback_fault_events=["ringing"])
def test_reordered_callback_arrives_after_the_next_one(twilio_sim, twilio_callback_receiver):
    _create(twilio_callback_receiver)
    assert twilio_sim.wait_idle()

    assert _statuses(twilio_callback_receiver) == [
        ("initiated", 0),
        ("in-progress", 2),
        ("ringing", 1),
        ("completed", 3),
    ]


@pytest.mark.twilio_sim(callback_reorder_rate=1.0)
def test_reordering_every_callback_still_delivers_all_of_them(twilio_sim, twilio_callback_receiver):
    _create(twilio_callback_receiver)
    assert twilio_sim.wait_idle()

    statuses = _statuses(twilio_callback_receiver)
    assert sorted(statuses, key=lambda s: s[1]) == [(s, n) for n, s in enumerate(FAULT_FREE)]
    assert statuses != sorted(statuses, key=lambda s: s[1])


@pytest.mark.twilio_sim(callback_delay_rate=1.0, callback_delay_seconds=30, callback_fault_events=["completed"])
def test_delayed_callback_arrives_late_after_the_call_ended(twilio_sim, twilio_callback_receiver):
    info = _create(twilio_callback_receiver)

    completed = twilio_callback_receiver.wait_for(4, "/status/")[-1]
    ended_at = twilio_sim.call(info.sid)["ended_at"]

    assert completed.params["CallStatus"] == "completed"
    # 30 simulated seconds at the fixture's 100x time scale.
    assert completed.received_at - ended_at >= 0.3 - 0.01
    assert _statuses(twilio_callback_receiver) == [(s, n) for n, s in enumerate(FAULT_FREE)]


@pytest.mark.twilio_sim(callback_drop_rate=0.5, seed=99)
def test_seed_makes_fault_choices_repeatable(twilio_sim, twilio_callback_receiver):
    def dropped_pattern():
        sids = [_create(twilio_callback_receiver, to=f"+97250000{i:04d}").sid for i in range(6)]
        assert twilio_sim.wait_idle()
        logs = [twilio_sim.call(sid)["callbacks"] for sid in sids]
        return [[e["fault"] == "dropped" for e in log if e["kind"] == "status"] for log in logs]

    first = dropped_pattern()
    twilio_sim.configure(seed=99)
    second = dropped_pattern()

    assert first == second
    assert any(any(row) for row in first)
    assert not all(all(row) for row in first)


@pytest.mark.twilio_sim(server_error_rate=0.5, seed=3)
def test_server_error_rate_fails_a_share_of_requests(twilio_sim, twilio_callback_receiver):
    outcomes = []
    for _ in range(20):
        try:
            _create(twilio_callback_receiver)
            outcomes.append("created")
        except twilio_gateway.RetryableTwilioError as error:
            outcomes.append(error.http_status)

    assert set(outcomes) == {"created", 500}
    assert len(twilio_sim.calls()) == outcomes.count("created")


def _recorded_call(sim, receiver):
    info = _create(receiver, record=True)
    # in-progress when the call is answered, then completed (or absent) after it.
    started, callback = receiver.wait_for(2, "/recording/")
    assert started.params["RecordingStatus"] == "in-progress"
    assert sim.wait_idle()
    return info, callback


@pytest.mark.twilio_sim(recording_unavailable_fetches=2)
def test_recording_answers_404_for_the_first_fetches_then_200(twilio_sim, twilio_callback_receiver):
    _, callback = _recorded_call(twilio_sim, twilio_callback_receiver)
    sid = callback.params["RecordingSid"]

    for _ in range(2):
        with pytest.raises(PermanentTwilioError) as caught, twilio_gateway.recording_media(recording_sid=sid):
            pass
        assert caught.value.http_status == 404
        assert caught.value.code == 20404
    with twilio_gateway.recording_media(recording_sid=sid) as media:
        body = b"".join(media.chunks)

    assert len(body) == media.content_length > 0


@pytest.mark.twilio_sim(recording_unavailable_seconds=1.0)
def test_recording_answers_404_for_a_while_then_200(twilio_sim, twilio_callback_receiver):
    _, callback = _recorded_call(twilio_sim, twilio_callback_receiver)
    sid = callback.params["RecordingSid"]

    with pytest.raises(PermanentTwilioError), twilio_gateway.recording_media(recording_sid=sid):
        pass
    time.sleep(1.05)
    with twilio_gateway.recording_media(recording_sid=sid) as media:
        assert media.content_type == "audio/mpeg"


@pytest.mark.twilio_sim(recording_absent_rate=1.0)
def test_absent_recording_is_reported_absent_and_never_becomes_available(twilio_sim, twilio_callback_receiver):
    info, callback = _recorded_call(twilio_sim, twilio_callback_receiver)

    assert callback.params["RecordingStatus"] == "absent"
    assert callback.params["RecordingDuration"] == "0"
    [completed] = [c for c in twilio_callback_receiver.requests("/status/") if c.params["CallStatus"] == "completed"]
    assert "RecordingSid" not in completed.params  # no recording to name
    resource = requests.get(
        f"{twilio_sim.base_url}/2010-04-01/Accounts/{twilio_sim.config.account_sid}/Recordings/"
        f"{callback.params['RecordingSid']}.json",
        auth=(twilio_sim.config.account_sid, twilio_sim.config.auth_token),
        timeout=5,
    ).json()
    assert resource["status"] == "absent" and resource["call_sid"] == info.sid
    for _ in range(3):
        with (
            pytest.raises(PermanentTwilioError),
            twilio_gateway.recording_media(recording_sid=callback.params["RecordingSid"]),
        ):
            pass


@pytest.mark.twilio_sim(recording_bytes_per_second=200_000, recording_size_bytes=100_000)
def test_slow_recording_streams_at_the_configured_rate(settings, twilio_sim, twilio_callback_receiver):
    _, callback = _recorded_call(twilio_sim, twilio_callback_receiver)
    began = time.monotonic()

    with twilio_gateway.recording_media(recording_sid=callback.params["RecordingSid"], fmt="wav") as media:
        size = sum(len(chunk) for chunk in media.chunks)

    assert size == 100_000
    assert time.monotonic() - began >= 0.45


@pytest.mark.twilio_sim(recording_bytes_per_second=1_000, recording_size_bytes=100_000)
def test_stalled_recording_download_times_out_as_retryable(settings, twilio_sim, twilio_callback_receiver):
    _, callback = _recorded_call(twilio_sim, twilio_callback_receiver)
    settings.TWILIO_TIMEOUT_SECONDS = 0.3
    twilio_sim.configure(recording_bytes_per_second=1)

    with (
        pytest.raises(twilio_gateway.RetryableTwilioError),
        twilio_gateway.recording_media(recording_sid=callback.params["RecordingSid"], chunk_size=1024) as media,
    ):
        for _ in media.chunks:
            pass
