"""The real twilio client against the simulator: calls, their signed callbacks, timelines."""

import time

import pytest

from callcenter import twilio_gateway
from callcenter.twilio_gateway import PermanentTwilioError
from twilio_sim import max_overlap

LEAD_NUMBER = "+972501234567"


def _create(receiver, *, to=LEAD_NUMBER, tag="run", **options):
    return twilio_gateway.call_create(
        to=to,
        twiml_url=receiver.url(f"/twiml?{tag}"),
        status_callback_url=receiver.url(f"/status/{tag}"),
        **options,
    )


def test_call_created_through_real_client_reaches_simulator(twilio_sim, twilio_callback_receiver):
    info = _create(twilio_callback_receiver)

    assert info.sid.startswith("CA")
    assert info.status == "queued"
    assert info.to == LEAD_NUMBER
    sim_call = twilio_sim.call(info.sid)
    assert sim_call is not None
    assert sim_call["status_callback"] == twilio_callback_receiver.url("/status/run")
    assert sim_call["status_callback_events"] == ["answered", "completed", "initiated", "ringing"]


def test_completed_call_sends_signed_callbacks_in_sequence(twilio_sim, twilio_callback_receiver):
    info = _create(twilio_callback_receiver)

    callbacks = twilio_callback_receiver.wait_for(4, "/status/")
    assert twilio_sim.wait_idle()

    assert [c.params["CallStatus"] for c in callbacks] == ["initiated", "ringing", "in-progress", "completed"]
    assert [int(c.params["SequenceNumber"]) for c in callbacks] == [0, 1, 2, 3]
    assert all(c.signature_valid for c in callbacks)
    assert {c.params["CallSid"] for c in callbacks} == {info.sid}
    assert callbacks[-1].params["CallDuration"] == "10"
    assert all(c.params["Timestamp"] and c.params["To"] == LEAD_NUMBER for c in callbacks)
    assert "AnsweredBy" not in callbacks[-1].params
    # The TwiML was fetched (signed, POST) when the call was answered, before the answered callback.
    twiml = twilio_callback_receiver.requests("/twiml")
    assert len(twiml) == 1
    assert twiml[0].signature_valid
    assert twiml[0].received_at <= callbacks[2].received_at


def test_fetch_reports_the_final_state(twilio_sim, twilio_callback_receiver):
    info = _create(twilio_callback_receiver)
    assert twilio_sim.wait_idle()

    fetched = twilio_gateway.call_fetch(call_sid=info.sid)

    assert fetched.status == "completed"
    assert fetched.duration == 10
    assert fetched.start_time is not None
    assert fetched.end_time >= fetched.start_time


def test_unanswered_outcomes_end_with_their_status(twilio_sim, twilio_callback_receiver):
    twilio_sim.configure(outcomes_by_number={"+972500000001": "busy", "+972500000002": "no-answer"})
    busy = _create(twilio_callback_receiver, to="+972500000001", tag="busy")
    no_answer = _create(twilio_callback_receiver, to="+972500000002", tag="noanswer", ring_timeout_seconds=20)

    assert twilio_sim.wait_idle()

    busy_statuses = [c.params["CallStatus"] for c in twilio_callback_receiver.requests("/status/busy")]
    no_answer_statuses = [c.params["CallStatus"] for c in twilio_callback_receiver.requests("/status/noanswer")]
    assert busy_statuses == ["initiated", "ringing", "busy"]
    assert no_answer_statuses == ["initiated", "ringing", "no-answer"]
    assert twilio_gateway.call_fetch(call_sid=busy.sid).status == "busy"
    assert twilio_gateway.call_fetch(call_sid=no_answer.sid).duration == 0
    assert twilio_callback_receiver.requests("/twiml") == []


def test_failed_calls_report_their_own_events_with_sip_and_error_codes(twilio_sim, twilio_callback_receiver):
    twilio_sim.configure(
        outcomes_by_number={"+972500000003": "failed", "+972500000005": "busy", "+972500000006": "no-answer"},
        sip_response_codes={"failed": 503},
    )
    for number, tag in (("+972500000003", "failed"), ("+972500000005", "busy"), ("+972500000006", "noanswer")):
        _create(twilio_callback_receiver, to=number, tag=tag)

    assert twilio_sim.wait_idle()

    failed = twilio_callback_receiver.requests("/status/failed")
    assert [c.params["CallStatus"] for c in failed] == ["initiated", "failed"]
    assert failed[-1].params["CallDuration"] == "0"
    finals = {
        tag: twilio_callback_receiver.requests(f"/status/{tag}")[-1].params for tag in ("failed", "busy", "noanswer")
    }
    assert {tag: p["SipResponseCode"] for tag, p in finals.items()} == {
        "failed": "503",
        "busy": "486",
        "noanswer": "487",
    }
    assert {tag: p["ErrorCode"] for tag, p in finals.items()} == {
        "failed": "31503",
        "busy": "31486",
        "noanswer": "31487",
    }
    assert finals["busy"]["ErrorMessage"] == "Busy Here"


def test_no_call_cancels_itself(twilio_sim):
    with pytest.raises(ValueError, match="outcomes"):
        twilio_sim.configure(outcomes={"canceled": 1})


@pytest.mark.twilio_sim(time_scale=10)
def test_cancel_ends_a_ringing_call_canceled(twilio_sim, twilio_callback_receiver):
    twilio_sim.configure(ring_delay_seconds=0, answer_delay_seconds=20, talk_seconds=60)
    ringing = _create(twilio_callback_receiver, to="+972500000007", tag="ringing")
    assert twilio_sim.wait_for(lambda: twilio_sim.call(ringing.sid)["status"] == "ringing")

    canceled = twilio_gateway.call_update(call_sid=ringing.sid, status="canceled")

    assert canceled.status == "canceled"
    assert twilio_sim.wait_for(lambda: len(twilio_callback_receiver.requests("/status/ringing")) == 3)
    callbacks = twilio_callback_receiver.requests("/status/ringing")
    assert [c.params["CallStatus"] for c in callbacks] == ["initiated", "ringing", "canceled"]
    assert callbacks[-1].params["SipResponseCode"] == "487" and "ErrorCode" not in callbacks[-1].params
    assert callbacks[-1].params["CallDuration"] == "0"
    time.sleep(2.1)  # past its planned answer (20 s at 10x): the rest of its plan no longer runs
    assert twilio_sim.call(ringing.sid)["status"] == "canceled" and twilio_sim.call(ringing.sid)["ended_by_api"]
    assert twilio_gateway.call_cancel(call_sid=ringing.sid) is None  # already ended: nothing to cancel


def test_completed_hangs_up_a_call_in_progress(twilio_sim, twilio_callback_receiver):
    twilio_sim.configure(ring_delay_seconds=0, answer_delay_seconds=0, talk_seconds=600)
    info = _create(twilio_callback_receiver, to="+972500000008", tag="talking")
    assert twilio_sim.wait_for(lambda: twilio_sim.call(info.sid)["status"] == "in-progress")

    assert twilio_gateway.call_update(call_sid=info.sid, status="canceled").status == "in-progress"
    hung_up = twilio_gateway.call_update(call_sid=info.sid, status="completed")

    assert hung_up.status == "completed" and hung_up.duration < 600
    assert twilio_sim.wait_idle()
    final = twilio_callback_receiver.requests("/status/talking")[-1].params
    assert final["CallStatus"] == "completed" and final["SipResponseCode"] == "200"
    with pytest.raises(PermanentTwilioError) as caught:
        twilio_gateway.call_update(call_sid=info.sid, status="completed")
    assert caught.value.code == 21220


@pytest.mark.twilio_sim(machine_rate=1.0)
def test_machine_detection_reports_answered_by(twilio_sim, twilio_callback_receiver):
    _create(twilio_callback_receiver, machine_detection=True)
    assert twilio_sim.wait_idle()

    callbacks = twilio_callback_receiver.requests("/status/")
    assert [c.params.get("AnsweredBy") for c in callbacks] == [None, None, "machine_start", "machine_start"]


@pytest.mark.twilio_sim(outcomes={"completed": 1, "busy": 1, "failed": 1}, seed=7)
def test_outcome_mix_is_weighted_and_seeded(twilio_sim, twilio_callback_receiver):
    sids = [_create(twilio_callback_receiver, to=f"+97250000{i:04d}").sid for i in range(30)]
    assert twilio_sim.wait_idle()

    outcomes = [twilio_sim.call(sid)["status"] for sid in sids]
    assert set(outcomes) == {"completed", "busy", "failed"}


def test_calls_list_filters_by_number_and_time(twilio_sim, twilio_callback_receiver):
    from datetime import UTC, datetime, timedelta

    before = datetime.now(tz=UTC) - timedelta(seconds=2)
    first = _create(twilio_callback_receiver, to="+972500000010")
    _create(twilio_callback_receiver, to="+972500000011")
    assert twilio_sim.wait_idle()

    listed = twilio_gateway.calls_list(to="+972500000010", started_after=before)
    assert [c.sid for c in listed] == [first.sid]
    assert twilio_gateway.calls_list(to="+972500000010", started_after=before + timedelta(hours=1)) == []
    assert twilio_gateway.calls_list(to="+972500000010", started_after=before, started_before=before) == []


def test_timelines_give_the_maximum_overlap(twilio_sim, twilio_callback_receiver):
    # Three calls of one run start together; a fourth starts once they have ended.
    twilio_sim.configure(talk_seconds=50)
    for i in range(3):
        _create(twilio_callback_receiver, to=f"+97250000002{i}", tag="overlap")
    assert twilio_sim.wait_idle()
    _create(twilio_callback_receiver, to="+972500000029", tag="overlap")
    _create(twilio_callback_receiver, to="+972500000030", tag="other-run")
    assert twilio_sim.wait_idle()

    calls = twilio_sim.calls()
    assert max_overlap(calls, callback_contains="/status/overlap") == 3
    assert max_overlap(calls, to_numbers={"+972500000020", "+972500000029"}) == 1
    assert max_overlap(calls) == 3


def test_answer_slower_than_the_ring_timeout_is_no_answer(twilio_sim, twilio_callback_receiver):
    twilio_sim.configure(answer_delay_seconds=25)

    slow = _create(twilio_callback_receiver, tag="slow", ring_timeout_seconds=20)
    patient = _create(twilio_callback_receiver, tag="patient", ring_timeout_seconds=30)
    assert twilio_sim.wait_idle()

    assert twilio_sim.call(slow.sid)["status"] == "no-answer"
    assert twilio_sim.call(patient.sid)["status"] == "completed"
