"""pytest fixtures shared across the suite (twilio_sim).

``twilio_sim``: a running local Twilio simulator with the TWILIO_* settings pointing the
gateway at it. Its lifecycle runs 100x faster than real time unless the test says otherwise
with ``@pytest.mark.twilio_sim(time_scale=..., outcomes=..., ...)`` (any SimConfig field) or
``twilio_sim.configure(...)``. Tests that need callbacks into Django combine it with
pytest-django's ``live_server`` and set ``settings.PUBLIC_BASE_URL = live_server.url``.

``twilio_callback_receiver``: pytest-httpserver's ``httpserver`` standing in for our webhooks,
for tests of the simulator and gateway that do not involve Django views: it answers TwiML on
paths containing ``twiml`` and 200 elsewhere, and keeps every request with its Twilio
signature checked by the twilio library's RequestValidator.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

import pytest
from pytest_httpserver import HTTPServer
from twilio.request_validator import RequestValidator
from werkzeug import Request, Response

from twilio_sim import SIM_FROM_NUMBER, SimConfig, TwilioSimulator

FAST_TIME_SCALE = 100.0
TWIML_RESPONSE = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello from the simulator.</Say></Response>'


def pytest_configure(config):
    config.addinivalue_line("markers", "twilio_sim(**config): SimConfig fields for the twilio_sim fixture")


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    params: dict[str, str]
    signature: str
    signature_valid: bool
    received_at: float


class SignedRequestLog:
    """Answers the simulator's requests on an ``HTTPServer`` and keeps them, signature checked."""

    def __init__(self, server: HTTPServer, auth_token: str, *, twiml: str = TWIML_RESPONSE):
        self.server = server
        self.twiml = twiml
        self._validator = RequestValidator(auth_token)
        self._requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        server.expect_request(re.compile(".*")).respond_with_handler(self._answer)

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def _answer(self, request: Request) -> Response:
        # The URL exactly as the simulator signed it: the raw request line, not a re-quoted one.
        url = self.server.url_for(request.environ.get("RAW_URI") or request.full_path)
        signature = request.headers.get("X-Twilio-Signature", "")
        form = request.form if request.method == "POST" else {}
        record = ReceivedRequest(
            method=request.method,
            path=request.environ.get("RAW_URI") or request.full_path,
            params=form.to_dict() if form else {},
            signature=signature,
            signature_valid=bool(signature) and self._validator.validate(url, form, signature),
            received_at=time.time(),
        )
        with self._lock:
            self._requests.append(record)
        if "twiml" in request.path:
            return Response(self.twiml, content_type="application/xml")
        return Response("", content_type="text/plain")

    def requests(self, path_contains: str | None = None) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self._requests if path_contains is None or path_contains in r.path]

    def wait_for(self, count: int, path_contains: str | None = None, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Waits until ``count`` requests matched; returns what arrived by then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.requests(path_contains)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        return self.requests(path_contains)


def threaded_httpserver() -> HTTPServer:
    """A pytest-httpserver on IPv4 that answers requests in parallel, as our web server does
    (the library's default is one request at a time). Its access log stays quiet."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return HTTPServer(host="127.0.0.1", port=0, threaded=True)


@pytest.fixture(scope="session")
def make_httpserver():
    server = threaded_httpserver()
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def twilio_sim(request, settings):
    marker = request.node.get_closest_marker("twilio_sim")
    options = {"time_scale": FAST_TIME_SCALE, "seed": 1234, **(marker.kwargs if marker else {})}
    simulator = TwilioSimulator(SimConfig().with_changes(**options)).start()
    settings.TWILIO_API_BASE_URL = simulator.base_url
    settings.TWILIO_ACCOUNT_SID = simulator.config.account_sid
    settings.TWILIO_AUTH_TOKEN = simulator.config.auth_token
    settings.TWILIO_FROM_NUMBER = SIM_FROM_NUMBER
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def twilio_callback_receiver(twilio_sim, httpserver):
    return SignedRequestLog(httpserver, twilio_sim.config.auth_token)
