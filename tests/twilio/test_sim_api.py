"""The simulator's REST surface spoken directly: auth, validation, media, control endpoints."""

import io
import wave

import pytest
import requests

from callcenter import twilio_gateway
from twilio_sim import SIM_FROM_NUMBER
from twilio_sim.audio import MP3_FRAME_SIZE


def _calls_url(sim):
    return f"{sim.base_url}/2010-04-01/Accounts/{sim.config.account_sid}/Calls.json"


def _auth(sim):
    return (sim.config.account_sid, sim.config.auth_token)


def test_requests_without_valid_basic_auth_get_twilios_401(twilio_sim):
    for auth in (None, (twilio_sim.config.account_sid, "wrong"), ("AC" + "0" * 32, twilio_sim.config.auth_token)):
        response = requests.get(_calls_url(twilio_sim), auth=auth, timeout=5)

        assert response.status_code == 401
        assert response.json()["code"] == 20003
        assert response.json()["status"] == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": SIM_FROM_NUMBER, "Url": "http://x.test/t"}, 21201),
        ({"To": "+972501234567", "Url": "http://x.test/t"}, 21213),
        ({"To": "+972501234567", "From": SIM_FROM_NUMBER}, 21205),
        ({"To": "+972501234567", "From": SIM_FROM_NUMBER, "Url": "ftp://x.test/t"}, 21205),
        ({"To": "not-a-number", "From": SIM_FROM_NUMBER, "Url": "http://x.test/t"}, 21211),
        ({"To": "+972501234567", "From": "12", "Url": "http://x.test/t"}, 21212),
        ({"To": "+972501234567", "From": SIM_FROM_NUMBER, "Url": "http://x.test/t", "Timeout": "x"}, 20001),
    ],
)
def test_create_validates_parameters_with_twilio_shaped_400(twilio_sim, form, code):
    response = requests.post(_calls_url(twilio_sim), data=form, auth=_auth(twilio_sim), timeout=5)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert body["status"] == 400
    assert body["message"]
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert twilio_sim.calls() == []


def test_another_accounts_path_is_not_found(twilio_sim):
    url = f"{twilio_sim.base_url}/2010-04-01/Accounts/AC{'1' * 32}/Calls.json"

    response = requests.get(url, auth=_auth(twilio_sim), timeout=5)

    assert response.status_code == 404
    assert response.json()["code"] == 20404


def test_calls_list_pages_like_twilio(twilio_sim, twilio_callback_receiver):
    for i in range(5):
        twilio_gateway.call_create(
            to="+972501234567", twiml_url=twilio_callback_receiver.url(f"/twiml/{i}"), status_callback_url=""
        )

    first = requests.get(_calls_url(twilio_sim), params={"PageSize": 2}, auth=_auth(twilio_sim), timeout=5).json()
    assert len(first["calls"]) == 2
    assert first["next_page_uri"]
    # The real client follows next_page_uri through every page.
    client_list = twilio_gateway._account().calls.list(to="+972501234567")
    assert len(client_list) == 5


def test_sim_calls_endpoint_reports_timelines(twilio_sim, twilio_callback_receiver):
    info = twilio_gateway.call_create(
        to="+972501234567",
        twiml_url=twilio_callback_receiver.url("/twiml"),
        status_callback_url=twilio_callback_receiver.url("/status?run=7"),
    )
    assert twilio_sim.wait_idle()

    calls = requests.get(f"{twilio_sim.base_url}/_sim/calls", params={"callback_contains": "run=7"}, timeout=5).json()

    [call] = calls
    assert call["sid"] == info.sid
    assert call["status"] == "completed"
    assert call["created_at"] <= call["started_at"] <= call["answered_at"] <= call["ended_at"]
    assert call["status_callback"].endswith("/status?run=7")
    assert call["twiml"]["http_status"] == 200
    assert [c["sequence"] for c in call["callbacks"] if c["kind"] == "status"] == [0, 1, 2, 3]
    assert requests.get(f"{twilio_sim.base_url}/_sim/calls", params={"to": "+1999"}, timeout=5).json() == []


def test_sim_config_changes_at_runtime_over_http(twilio_sim, twilio_callback_receiver):
    response = requests.post(
        f"{twilio_sim.base_url}/_sim/config", json={"outcomes": {"busy": 1}, "talk_seconds": [5, 6]}, timeout=5
    )
    assert response.status_code == 200
    assert response.json()["outcomes"] == {"busy": 1}
    assert "auth_token" not in response.json()

    info = twilio_gateway.call_create(
        to="+972501234567", twiml_url=twilio_callback_receiver.url("/twiml"), status_callback_url=""
    )
    assert twilio_sim.wait_idle()
    assert twilio_sim.call(info.sid)["status"] == "busy"

    rejected = requests.post(f"{twilio_sim.base_url}/_sim/config", json={"time_scale": -1}, timeout=5)
    assert rejected.status_code == 400
    unknown = requests.post(f"{twilio_sim.base_url}/_sim/config", json={"no_such_setting": 1}, timeout=5)
    assert unknown.status_code == 400
    assert twilio_sim.config.time_scale > 0


def _recording_sid(sim, receiver, **config):
    sim.configure(**config)
    twilio_gateway.call_create(
        to="+972501234567",
        twiml_url=receiver.url("/twiml"),
        status_callback_url=receiver.url("/status"),
        record=True,
        recording_status_callback_url=receiver.url("/recording"),
    )
    _, callback = receiver.wait_for(2, "/recording")  # in-progress, then completed
    assert sim.wait_idle()
    return callback


def test_recording_callback_is_signed_and_points_at_the_media(twilio_sim, twilio_callback_receiver):
    callback = _recording_sid(twilio_sim, twilio_callback_receiver, talk_seconds=42)

    assert callback.signature_valid
    params = callback.params
    assert params["RecordingStatus"] == "completed"
    assert params["RecordingDuration"] == "42"
    assert params["CallSid"].startswith("CA")
    assert params["RecordingUrl"] == (
        f"{twilio_sim.base_url}/2010-04-01/Accounts/{twilio_sim.config.account_sid}/Recordings/{params['RecordingSid']}"
    )


def test_wav_media_is_a_valid_wave_file_of_the_recorded_length(twilio_sim, twilio_callback_receiver):
    sid = _recording_sid(twilio_sim, twilio_callback_receiver, talk_seconds=3).params["RecordingSid"]

    with twilio_gateway.recording_media(recording_sid=sid, fmt="wav", chunk_size=4096) as media:
        assert media.content_type == "audio/x-wav"
        body = b"".join(media.chunks)

    assert len(body) == media.content_length
    with wave.open(io.BytesIO(body)) as audio:
        assert audio.getframerate() == 8000
        assert audio.getsampwidth() == 2
        assert audio.getnframes() == 3 * 8000
        assert any(audio.readframes(100))


def test_mp3_media_is_a_stream_of_mpeg_frames(twilio_sim, twilio_callback_receiver):
    sid = _recording_sid(twilio_sim, twilio_callback_receiver, recording_size_bytes=50_000).params["RecordingSid"]

    with twilio_gateway.recording_media(recording_sid=sid, fmt="mp3") as media:
        body = b"".join(media.chunks)

    assert media.content_type == "audio/mpeg"
    assert len(body) == (50_000 // MP3_FRAME_SIZE) * MP3_FRAME_SIZE
    assert all(body[i : i + 2] == b"\xff\xfb" for i in range(0, len(body), MP3_FRAME_SIZE))


def test_large_media_streams_in_bounded_chunks(twilio_sim, twilio_callback_receiver):
    size = 20 * 1024 * 1024
    sid = _recording_sid(twilio_sim, twilio_callback_receiver, recording_size_bytes=size).params["RecordingSid"]

    with twilio_gateway.recording_media(recording_sid=sid, fmt="wav", chunk_size=64 * 1024) as media:
        total = largest = 0
        for chunk in media.chunks:
            total += len(chunk)
            largest = max(largest, len(chunk))

    assert total == size == media.content_length
    assert largest <= 64 * 1024


def test_media_supports_byte_ranges(twilio_sim, twilio_callback_receiver):
    sid = _recording_sid(twilio_sim, twilio_callback_receiver, talk_seconds=2).params["RecordingSid"]
    url = twilio_gateway.recording_media_url(recording_sid=sid, fmt="wav")
    whole = requests.get(url, auth=_auth(twilio_sim), timeout=5)
    assert whole.headers["Accept-Ranges"] == "bytes"

    part = requests.get(url, auth=_auth(twilio_sim), headers={"Range": "bytes=40-139"}, timeout=5)
    tail = requests.get(url, auth=_auth(twilio_sim), headers={"Range": "bytes=-10"}, timeout=5)
    beyond = requests.get(url, auth=_auth(twilio_sim), headers={"Range": f"bytes={len(whole.content)}-"}, timeout=5)

    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 40-139/{len(whole.content)}"
    assert part.content == whole.content[40:140]
    assert tail.content == whole.content[-10:]
    assert beyond.status_code == 416


def test_media_needs_credentials(twilio_sim, twilio_callback_receiver):
    sid = _recording_sid(twilio_sim, twilio_callback_receiver).params["RecordingSid"]

    response = requests.get(twilio_gateway.recording_media_url(recording_sid=sid), timeout=5)

    assert response.status_code == 401


def test_unsupported_media_format_is_refused_before_any_request(twilio_sim):
    with pytest.raises(ValueError), twilio_gateway.recording_media(recording_sid="RE" + "0" * 32, fmt="ogg"):
        pass


def test_undecodable_number_is_an_invalid_number(twilio_sim):
    response = requests.post(
        _calls_url(twilio_sim),
        data=b"To=\xff\xfe&From=%2B15005550006&Url=http%3A%2F%2Fx.test%2Ft",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=_auth(twilio_sim),
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json()["code"] == 21211


def test_get_methods_put_the_signed_parameters_in_the_query(twilio_sim, twilio_callback_receiver):
    response = requests.post(
        _calls_url(twilio_sim),
        data={
            "To": "+972501234567",
            "From": SIM_FROM_NUMBER,
            "Url": twilio_callback_receiver.url("/twiml?step=1"),
            "Method": "GET",
            "StatusCallback": twilio_callback_receiver.url("/status"),
            "StatusCallbackMethod": "GET",
        },
        auth=_auth(twilio_sim),
        timeout=5,
    )
    assert response.status_code == 201
    assert twilio_sim.wait_idle()

    [twiml] = twilio_callback_receiver.requests("/twiml")
    [completed] = twilio_callback_receiver.requests("/status")
    assert twiml.method == completed.method == "GET"
    assert twiml.signature_valid and completed.signature_valid
    assert "CallStatus=completed" in completed.path
    assert "step=1&" in twiml.path
