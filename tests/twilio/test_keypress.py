"""The "keypress" outcome: the callee presses a digit at the TwiML's <Gather>, and the
simulator requests the Gather's action with it, signed, as Twilio does."""

import pytest

from callcenter import twilio_gateway
from tests.plugins.twilio_sim import SignedRequestLog
from twilio_sim.twiml import gather_in

GATHER_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Gather numDigits="1" action="/gather?job_id=7&amp;claim=1" method="POST">'
    '<Say language="he-IL">שלום. להסרה מרשימת החיוג הקישו 9.</Say></Gather></Response>'
)
# What Twilio sends with every request about a call, and what a Gather's action adds.
CALL_PARAMETERS = {"AccountSid", "ApiVersion", "CallSid", "CallStatus", "Called", "Caller", "Direction", "From", "To"}
GATHER_PARAMETERS = {"Digits", "FinishedOnKey"}


@pytest.fixture
def voice_server(twilio_sim, httpserver):
    return SignedRequestLog(httpserver, twilio_sim.config.auth_token, twiml=GATHER_TWIML)


def _call(server: SignedRequestLog, number: str = "+972501234567"):
    return twilio_gateway.call_create(
        to=number, twiml_url=server.url("/twiml/voice?job_id=7&claim=1"), status_callback_url=server.url("/status")
    )


# Ten minutes of talk were planned: the call ends soon after the digits were answered instead.
@pytest.mark.twilio_sim(outcomes={"keypress": 1}, talk_seconds=600, keypress_hangup_seconds=3)
def test_keypress_posts_the_digit_to_the_gather_action_signed(twilio_sim, voice_server):
    info = _call(voice_server)
    assert twilio_sim.wait_idle()

    [voice] = voice_server.requests("/twiml/voice")
    [gather] = voice_server.requests("/gather")
    assert gather.method == "POST" and gather.path == "/gather?job_id=7&claim=1"
    assert gather.signature_valid
    assert gather.params["Digits"] == "9" and gather.params["FinishedOnKey"] == ""
    assert gather.params["CallSid"] == info.sid and gather.params["CallStatus"] == "in-progress"
    assert set(gather.params) >= CALL_PARAMETERS | GATHER_PARAMETERS
    assert voice.received_at <= gather.received_at
    statuses = [c.params["CallStatus"] for c in voice_server.requests("/status")]
    assert statuses[-1] == "completed"
    assert gather.received_at <= voice_server.requests("/status")[-1].received_at
    call = twilio_sim.call(info.sid)
    assert call["pressed_digits"] == "9" and call["status"] == "completed"
    assert 3 <= call["duration"] < 60


@pytest.mark.twilio_sim(outcomes={"completed": 1, "keypress": 1}, keypress_digit="5", seed=8)
def test_only_the_configured_share_presses_and_the_digit_is_configurable(twilio_sim, voice_server):
    sids = [_call(voice_server, f"+97250000{index:04d}").sid for index in range(20)]
    assert twilio_sim.wait_idle()

    gathers = voice_server.requests("/gather")
    pressed = {sid for sid in sids if twilio_sim.call(sid)["pressed_digits"]}
    assert 0 < len(gathers) == len(pressed) < 20
    assert {g.params["CallSid"] for g in gathers} == pressed
    assert {g.params["Digits"] for g in gathers} == {"5"}
    assert {twilio_sim.call(sid)["outcome"] for sid in pressed} == {"keypress"}
    assert all(twilio_sim.call(sid)["status"] == "completed" for sid in sids)


@pytest.mark.twilio_sim(outcomes={"keypress": 1})
def test_no_gather_no_keypress(twilio_sim, httpserver):
    server = SignedRequestLog(httpserver, twilio_sim.config.auth_token)  # TwiML with a Say only
    info = _call(server)
    assert twilio_sim.wait_idle()
    assert server.requests("/gather") == [] and twilio_sim.call(info.sid)["pressed_digits"] is None


def test_gather_is_found_with_its_action_resolved_like_twilio():
    gather = gather_in(GATHER_TWIML, document_url="https://calls.example.com/webhooks/twilio/voice?job_id=7")
    assert gather.action == "https://calls.example.com/gather?job_id=7&claim=1"
    assert gather.method == "POST" and gather.num_digits == 1
    relative = gather_in('<Response><Gather action="gather" method="get"/></Response>', document_url="http://h/a/voice")
    assert relative.action == "http://h/a/gather" and relative.method == "GET"
    without_action = gather_in("<Response><Gather><Say>x</Say></Gather></Response>", document_url="http://h/v?a=1")
    assert without_action.action == "http://h/v?a=1" and without_action.method == "POST"
    assert gather_in("<Response><Say>x</Say></Response>", document_url="http://h/") is None
    assert gather_in("not xml", document_url="http://h/") is None
