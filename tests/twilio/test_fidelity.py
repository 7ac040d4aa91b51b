"""The simulator held to what the installed ``twilio`` package itself reads, and to the
callback parameters Twilio documents.

The properties each SDK instance reads are taken from the package's own source (every
``payload.get("...")`` of the instance's constructor, with its declared type and
deserializer), so a new SDK version that reads a new field fails here until the simulator
sends it.
"""

import ast
import inspect
import re
import textwrap
from email.utils import parsedate_to_datetime

import pytest
import requests
from twilio.rest.api.v2010.account.call import CallInstance
from twilio.rest.api.v2010.account.call.event import EventInstance
from twilio.rest.api.v2010.account.call.notification import NotificationInstance
from twilio.rest.api.v2010.account.call.recording import RecordingInstance as CallRecordingInstance
from twilio.rest.api.v2010.account.recording import RecordingInstance

from callcenter import twilio_gateway

SID = re.compile(r"^[A-Z]{2}[0-9a-f]{32}$")
# Properties Twilio leaves null for an outbound API call or a recording of one (no
# conference, no price yet, no parent call, no trunk, no encryption).
NULLABLE = {
    "annotation",
    "caller_name",
    "conference_sid",
    "encryption_details",
    "error_code",
    "forwarded_from",
    "group_sid",
    "parent_call_sid",
    "phone_number_sid",
    "price",
    "trunk_sid",
    "end_time",
    "answered_by",
    "stir_verstat",  # inbound calls only
}


def sdk_properties(instance_class) -> dict[str, tuple[str, str | None]]:
    """{payload key: (declared type, deserializer or None)} read by the instance's constructor."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(instance_class.__init__)))
    properties = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.value, ast.Call):
            continue
        call, deserializer = node.value, None
        if isinstance(call.func, ast.Attribute) and call.func.attr != "get":
            deserializer = call.func.attr
            call = call.args[0]
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "get":
            key = call.args[0].value
            properties[key] = (ast.unparse(node.annotation), deserializer)
    return properties


def enum_values(instance_class, declared: str) -> set[str] | None:
    """Allowed values of an enum-typed property (``Optional["CallInstance.Status"]``)."""
    match = re.search(r"\w+Instance\.(\w+)", declared)
    if match is None:
        return None
    enum = getattr(instance_class, match[1])
    return {value for name, value in vars(enum).items() if name.isupper()}


def fidelity_problems(instance_class, payload: dict) -> list[str]:
    """What the SDK would miss or misread in ``payload``."""
    problems = []
    for key, (declared, deserializer) in sdk_properties(instance_class).items():
        if key not in payload:
            problems.append(f"{key}: missing")
            continue
        value = payload[key]
        if value is None:
            if key not in NULLABLE:
                problems.append(f"{key}: null")
            continue
        if deserializer == "rfc2822_datetime":
            try:
                parsedate_to_datetime(value)
            except (TypeError, ValueError):
                problems.append(f"{key}: not an RFC 2822 date: {value!r}")
            if not re.match(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$", value):
                problems.append(f"{key}: not Twilio's date format: {value!r}")
        elif deserializer == "integer":
            if not isinstance(value, int) and not (isinstance(value, str) and value.lstrip("-").isdigit()):
                problems.append(f"{key}: not an integer: {value!r}")
        elif deserializer == "decimal":
            if not isinstance(value, str | int | float):
                problems.append(f"{key}: not a decimal: {value!r}")
        elif declared.startswith(("Dict", "Optional[Dict")):
            if not isinstance(value, dict):
                problems.append(f"{key}: not an object: {value!r}")
        elif not isinstance(value, str):
            problems.append(f"{key}: not a string: {value!r}")
        allowed = enum_values(instance_class, declared)
        if allowed is not None and value not in allowed:
            problems.append(f"{key}: {value!r} is not one of {sorted(allowed)}")
        if (key == "sid" or key.endswith("_sid")) and not SID.match(value):
            problems.append(f"{key}: not a SID: {value!r}")
        if key in ("duration", "queue_time") and not (isinstance(value, str) and re.match(r"^-?\d+$", value)):
            problems.append(f"{key}: not a string number: {value!r}")
    return problems


def _get(sim, path: str) -> dict:
    response = requests.get(f"{sim.base_url}{path}", auth=(sim.config.account_sid, sim.config.auth_token), timeout=5)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


@pytest.fixture
def recorded_call(twilio_sim, twilio_callback_receiver):
    info = twilio_gateway.call_create(
        to="+972501234567",
        twiml_url=twilio_callback_receiver.url("/twiml"),
        status_callback_url=twilio_callback_receiver.url("/status"),
        record=True,
        recording_status_callback_url=twilio_callback_receiver.url("/recording"),
        machine_detection=True,
    )
    assert twilio_callback_receiver.wait_for(2, "/recording")
    assert twilio_sim.wait_idle()
    call = twilio_sim.call(info.sid)
    return call


def test_the_checker_reads_the_sdks_properties():
    properties = sdk_properties(CallInstance)
    assert properties["date_created"] == ("Optional[datetime]", "rfc2822_datetime")
    assert properties["queue_time"][0] == "Optional[str]"
    assert {"sid", "status", "subresource_uris", "answered_by"} <= set(properties)
    assert enum_values(CallInstance, properties["status"][0]) >= {"queued", "ringing", "canceled"}
    assert {"channels", "media_url", "source"} <= set(sdk_properties(RecordingInstance))


def test_call_resource_has_every_property_the_sdk_reads(twilio_sim, recorded_call):
    account = twilio_sim.config.account_sid
    fetched = _get(twilio_sim, f"/2010-04-01/Accounts/{account}/Calls/{recorded_call['sid']}.json")
    assert fidelity_problems(CallInstance, fetched) == []
    listed = _get(twilio_sim, f"/2010-04-01/Accounts/{account}/Calls.json")["calls"]
    assert all(fidelity_problems(CallInstance, call) == [] for call in listed)


def test_recording_resources_have_every_property_the_sdk_reads(twilio_sim, recorded_call):
    account = twilio_sim.config.account_sid
    sid = recorded_call["recording_sid"]
    fetched = _get(twilio_sim, f"/2010-04-01/Accounts/{account}/Recordings/{sid}.json")
    assert fidelity_problems(RecordingInstance, fetched) == []
    assert fetched["status"] == "completed" and fetched["call_sid"] == recorded_call["sid"]
    assert set(fetched) <= set(sdk_properties(RecordingInstance)), "fields Twilio does not have"
    listed = _get(twilio_sim, f"/2010-04-01/Accounts/{account}/Recordings.json?CallSid={recorded_call['sid']}")
    assert [r["sid"] for r in listed["recordings"]] == [sid]
    of_call = f"/2010-04-01/Accounts/{account}/Calls/{recorded_call['sid']}/Recordings"
    [from_call] = _get(twilio_sim, f"{of_call}.json")["recordings"]
    assert fidelity_problems(CallRecordingInstance, from_call) == []
    assert fidelity_problems(CallRecordingInstance, _get(twilio_sim, f"{of_call}/{sid}.json")) == []


def test_every_sub_resource_the_call_names_answers(twilio_sim, recorded_call):
    account = twilio_sim.config.account_sid
    call = _get(twilio_sim, f"/2010-04-01/Accounts/{account}/Calls/{recorded_call['sid']}.json")
    instances = {"events": EventInstance, "notifications": NotificationInstance, "recordings": CallRecordingInstance}
    for name, uri in call["subresource_uris"].items():
        page = _get(twilio_sim, uri)
        assert page["uri"].startswith(uri) and isinstance(page[name], list)
        for item in page[name]:
            missing = set(sdk_properties(instances[name])) - set(item)
            assert not missing, (name, missing)
    events = _get(twilio_sim, call["subresource_uris"]["events"])["events"]
    assert len(events) >= 5
    assert all(e["request"]["parameters"]["CallSid"] == recorded_call["sid"] for e in events)
    assert {e["response"]["response_code"] for e in events} == {200}
    recording = _get(twilio_sim, f"/2010-04-01/Accounts/{account}/Recordings/{recorded_call['recording_sid']}.json")
    for name, uri in recording["subresource_uris"].items():
        assert _get(twilio_sim, uri)[name] == []


def test_the_checker_fails_when_a_field_is_removed(twilio_sim, recorded_call):
    account = twilio_sim.config.account_sid
    fetched = _get(twilio_sim, f"/2010-04-01/Accounts/{account}/Calls/{recorded_call['sid']}.json")
    for key in ("queue_time", "subresource_uris", "date_created", "sid"):
        assert fidelity_problems(CallInstance, {k: v for k, v in fetched.items() if k != key}) == [f"{key}: missing"]
    assert fidelity_problems(CallInstance, {**fetched, "date_created": "2026-11-30T07:00:00Z"})
    assert fidelity_problems(CallInstance, {**fetched, "sid": "CA123"}) == ["sid: not a SID: 'CA123'"]
    assert fidelity_problems(CallInstance, {**fetched, "duration": 10}) != []
    assert fidelity_problems(CallInstance, {**fetched, "status": "exploded"}) != []


# Twilio's documented request parameters of a voice call, and those its status callbacks add.
CALL_PARAMETERS = {
    "AccountSid", "ApiVersion", "CallSid", "CallStatus", "Called", "Caller", "Direction", "From", "To",
    *(f"{who}{where}" for who in ("From", "To", "Called", "Caller") for where in ("City", "State", "Zip", "Country")),
}  # fmt: skip
STATUS_CALLBACK_PARAMETERS = {"SequenceNumber", "Timestamp", "CallbackSource"}
FINAL_PARAMETERS = {"CallDuration", "Duration", "SipResponseCode"}
ERROR_PARAMETERS = {"ErrorCode", "ErrorMessage"}
RECORDED_CALL_PARAMETERS = {"RecordingUrl", "RecordingSid", "RecordingDuration"}
RECORDING_PARAMETERS = {
    "AccountSid", "CallSid", "RecordingSid", "RecordingUrl", "RecordingStatus", "RecordingChannels",
    "RecordingSource", "RecordingStartTime", "RecordingTrack",
}  # fmt: skip
RECORDING_FINAL_PARAMETERS = {"RecordingDuration", "ErrorCode"}


def test_status_callbacks_carry_every_documented_parameter_when_twilio_sends_it(
    twilio_sim, twilio_callback_receiver, recorded_call
):
    callbacks = {c.params["CallStatus"]: c.params for c in twilio_callback_receiver.requests("/status")}
    base = CALL_PARAMETERS | STATUS_CALLBACK_PARAMETERS
    assert set(callbacks["initiated"]) == base
    assert set(callbacks["ringing"]) == base
    assert set(callbacks["in-progress"]) == base | {"AnsweredBy"}
    assert set(callbacks["completed"]) == base | {"AnsweredBy"} | FINAL_PARAMETERS | RECORDED_CALL_PARAMETERS
    assert callbacks["completed"]["RecordingSid"] == recorded_call["recording_sid"]
    assert callbacks["completed"]["SipResponseCode"] == "200"
    assert callbacks["initiated"]["ToCountry"] == "IL" and callbacks["initiated"]["FromCountry"] == "US"
    [twiml] = twilio_callback_receiver.requests("/twiml")
    assert set(twiml.params) == CALL_PARAMETERS | {"AnsweredBy"}

    recording = {c.params["RecordingStatus"]: c.params for c in twilio_callback_receiver.requests("/recording")}
    assert set(recording["in-progress"]) == RECORDING_PARAMETERS
    assert set(recording["completed"]) == RECORDING_PARAMETERS | RECORDING_FINAL_PARAMETERS
    assert all(c.signature_valid for c in twilio_callback_receiver.requests())


@pytest.mark.twilio_sim(outcomes={"busy": 1, "no-answer": 1, "failed": 1}, seed=4)
def test_unanswered_calls_carry_their_sip_and_error_codes(twilio_sim, twilio_callback_receiver):
    for index in range(9):
        twilio_gateway.call_create(
            to=f"+9725000001{index:02d}",
            twiml_url=twilio_callback_receiver.url("/twiml"),
            status_callback_url=twilio_callback_receiver.url(f"/status/{index}"),
        )
    assert twilio_sim.wait_idle()
    finals = [c.params for c in twilio_callback_receiver.requests("/status/") if "CallDuration" in c.params]
    assert {p["CallStatus"] for p in finals} == {"busy", "no-answer", "failed"}
    base = CALL_PARAMETERS | STATUS_CALLBACK_PARAMETERS | FINAL_PARAMETERS
    assert all(set(p) == base | ERROR_PARAMETERS for p in finals)
    expected = {"busy": "486", "no-answer": "487", "failed": "404"}
    assert all(p["SipResponseCode"] == expected[p["CallStatus"]] for p in finals)
    assert all(p["ErrorCode"] == "31" + p["SipResponseCode"] for p in finals)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (True, {"human", "machine_start", "fax", "unknown"}),
        (
            "DetectMessageEnd",
            {"human", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax", "unknown"},
        ),
    ],
)
def test_answered_by_takes_every_value_of_the_detection_mode(twilio_sim, twilio_callback_receiver, mode, expected):
    twilio_sim.configure(answered_by=dict.fromkeys(expected | {"machine_start", "machine_end_beep"}, 1), talk_seconds=1)
    for index in range(40):
        twilio_gateway.call_create(
            to=f"+9725000002{index:02d}",
            twiml_url=twilio_callback_receiver.url("/twiml"),
            status_callback_url=twilio_callback_receiver.url("/status"),
            machine_detection=mode,
        )
    assert twilio_sim.wait_idle()
    seen = {c.params["AnsweredBy"] for c in twilio_callback_receiver.requests("/status") if "AnsweredBy" in c.params}
    assert seen == expected


@pytest.mark.twilio_sim(calls_per_second=10, rate_limit_mode="queue")
def test_queue_time_is_the_wait_behind_the_calls_per_second_limit(twilio_sim, twilio_callback_receiver):
    infos = [
        twilio_gateway.call_create(
            to=f"+9725000003{index:02d}",
            twiml_url=twilio_callback_receiver.url("/twiml"),
            status_callback_url=twilio_callback_receiver.url("/status"),
        )
        for index in range(5)
    ]
    account = twilio_sim.config.account_sid
    waits = [int(_get(twilio_sim, f"/2010-04-01/Accounts/{account}/Calls/{i.sid}.json")["queue_time"]) for i in infos]
    assert waits[0] < 50 and waits[-1] >= 300  # 4 calls ahead of it at 10 per second
    assert waits == sorted(waits)


@pytest.mark.twilio_sim(recording_absent_rate=1.0)
def test_an_absent_recordings_callback_carries_the_documented_parameters(twilio_sim, twilio_callback_receiver):
    twilio_gateway.call_create(
        to="+972501234567",
        twiml_url=twilio_callback_receiver.url("/twiml"),
        status_callback_url=twilio_callback_receiver.url("/status"),
        record=True,
        recording_status_callback_url=twilio_callback_receiver.url("/recording"),
    )
    assert twilio_callback_receiver.wait_for(2, "/recording")
    started, absent = (c.params for c in twilio_callback_receiver.requests("/recording"))
    assert set(started) == RECORDING_PARAMETERS
    assert set(absent) == RECORDING_PARAMETERS | RECORDING_FINAL_PARAMETERS
    assert absent["RecordingStatus"] == "absent" and absent["RecordingDuration"] == "0"
