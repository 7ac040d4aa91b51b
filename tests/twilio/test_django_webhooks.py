"""The simulator calling a Django view protected by the signature decorator, over HTTP."""

import pytest
import requests

from callcenter import twilio_gateway
from tests.twilio import urls as hook_urls


@pytest.fixture
def hooks(settings, live_server, twilio_sim):
    settings.ROOT_URLCONF = "tests.twilio.urls"
    settings.PUBLIC_BASE_URL = live_server.url
    hook_urls.received.clear()
    return hook_urls.received


def _call():
    return twilio_gateway.call_create(
        to="+972501234567",
        twiml_url=twilio_gateway.public_url("/hooks/twiml?job=5"),
        status_callback_url=twilio_gateway.public_url("/hooks/status?job=5"),
    )


def test_simulator_callbacks_pass_the_decorator(twilio_sim, hooks):
    info = _call()
    assert twilio_sim.wait_idle()

    assert [h["CallStatus"] for h in hooks] == ["initiated", "ringing", "in-progress", "completed"]
    call = twilio_sim.call(info.sid)
    assert {c["http_status"] for c in call["callbacks"]} == {204, 200}
    assert call["twiml"]["http_status"] == 200
    assert "<Say>hi</Say>" in call["twiml"]["body"]


def test_callbacks_signed_with_another_token_are_refused(twilio_sim, hooks):
    # A simulator with its own token stands for anyone who is not our Twilio account.
    impostor_token = "an-impostors-token"
    twilio_sim.configure(auth_token=impostor_token)
    response = requests.post(
        f"{twilio_sim.base_url}/2010-04-01/Accounts/{twilio_sim.config.account_sid}/Calls.json",
        auth=(twilio_sim.config.account_sid, impostor_token),
        data={
            "To": "+972501234567",
            "From": "+15005550006",
            "Url": twilio_gateway.public_url("/hooks/twiml"),
            "StatusCallback": twilio_gateway.public_url("/hooks/status"),
            "StatusCallbackEvent": "initiated ringing answered completed",
        },
        timeout=5,
    )
    assert response.status_code == 201
    assert twilio_sim.wait_idle()

    assert hooks == []
    call = twilio_sim.call(response.json()["sid"])
    assert {c["http_status"] for c in call["callbacks"]} == {403}
    assert len(call["callbacks"]) == 5
