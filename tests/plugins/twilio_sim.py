"""pytest fixtures shared across the suite (twilio_sim).

``twilio_sim``: a running local Twilio simulator with the TWILIO_* settings pointing the
gateway at it. Its lifecycle runs 100x faster than real time unless the test says otherwise
with ``@pytest.mark.twilio_sim(time_scale=..., outcomes=..., ...)`` (any SimConfig field) or
``twilio_sim.configure(...)``. Tests that need callbacks into Django combine it with
pytest-django's ``live_server`` and set ``settings.PUBLIC_BASE_URL = live_server.url``.

``twilio_callback_receiver``: a small HTTP server recording the (signature-checked) requests
the simulator makes, for tests of the simulator and gateway that do not involve Django views.
"""

import pytest

from twilio_sim import SIM_FROM_NUMBER, SimConfig, TwilioSimulator
from twilio_sim.receiver import CallbackReceiver

FAST_TIME_SCALE = 100.0


def pytest_configure(config):
    config.addinivalue_line("markers", "twilio_sim(**config): SimConfig fields for the twilio_sim fixture")


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
def twilio_callback_receiver(twilio_sim):
    receiver = CallbackReceiver(twilio_sim.config.auth_token).start()
    try:
        yield receiver
    finally:
        receiver.stop()
