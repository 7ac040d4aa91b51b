import pytest

from callcenter import twilio_gateway

EVERY_STATUS_EVENT = ("initiated", "ringing", "answered", "completed")


@pytest.fixture(autouse=True)
def every_status_event(monkeypatch):
    """The simulator is held to Twilio's behaviour for every status event it can send,
    "initiated" included, which the product itself does not subscribe to."""
    monkeypatch.setattr(twilio_gateway, "STATUS_CALLBACK_EVENTS", EVERY_STATUS_EVENT)
