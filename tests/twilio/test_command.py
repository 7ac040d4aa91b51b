"""``manage.py twilio_sim`` as the run command starts it: a separate process on a port."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from callcenter import twilio_gateway
from tests.plugins.twilio_sim import SignedRequestLog
from twilio_sim import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, SIM_FROM_NUMBER

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim_process():
    env = {**os.environ, "TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": "", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "twilio_sim", "--port", "0", "--time-scale", "100", "--outcomes", "busy=1"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        assert match, line + process.stderr.read()
        yield process, match[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_command_serves_the_api_and_stops_on_sigterm(settings, sim_process, httpserver):
    process, base_url = sim_process
    settings.TWILIO_API_BASE_URL = base_url
    settings.TWILIO_ACCOUNT_SID = SIM_ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = SIM_AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = SIM_FROM_NUMBER
    receiver = SignedRequestLog(httpserver, SIM_AUTH_TOKEN)
    twilio_gateway.call_create(
        to="+972501234567", twiml_url=receiver.url("/twiml"), status_callback_url=receiver.url("/status")
    )
    callbacks = receiver.wait_for(3, "/status")

    assert [c.params["CallStatus"] for c in callbacks] == ["initiated", "ringing", "busy"]
    assert all(c.signature_valid for c in callbacks)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_command_rejects_bad_options():
    with pytest.raises(CommandError):
        call_command("twilio_sim", "--outcomes", "completed=1,exploded=2")
    with pytest.raises(CommandError):
        call_command("twilio_sim", "--config", '{"time_scale": 0}')
