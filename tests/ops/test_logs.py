"""LOG_FORMAT=json: one JSON object a line with the request id, business, run, job, call SID."""

import io
import json
import logging

import pytest
from django.conf import settings as django_settings
from pythonjsonlogger.json import JsonFormatter
from twilio.request_validator import RequestValidator

from callcenter.ops import logs
from callcenter.ops.logs import ContextFilter
from outbound import tasks as outbound_tasks


@pytest.fixture
def json_lines(settings):
    """The project's JSON formatter and context filter on the root logger; yields a reader."""
    settings.LOG_REQUESTS = True
    options = {key: value for key, value in django_settings.LOGGING["formatters"]["json"].items() if key != "()"}
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(options.pop("format"), **options))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_json_is_the_format_asked_for_and_plain_the_default():
    assert django_settings.LOGGING["formatters"]["json"]["()"] == "pythonjsonlogger.json.JsonFormatter"
    assert django_settings.LOG_FORMAT == "plain"
    assert django_settings.LOGGING["handlers"]["console"]["formatter"] == "plain"
    assert django_settings.LOGGING["handlers"]["console"]["filters"] == ["context"]


@pytest.mark.django_db
def test_api_request_line_carries_the_clients_request_id_and_the_business(api, business, json_lines):
    response = api.get("/api/jobs", HTTP_X_REQUEST_ID="client-id-42")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "client-id-42"
    line = next(entry for entry in json_lines() if entry["logger"] == "callcenter.requests")
    assert line["request_id"] == "client-id-42"
    assert line["business_id"] == business.pk
    assert line["route"] == "api/jobs" and line["status"] == 200 and line["level"] == "INFO"
    assert "time" in line and "message" in line


@pytest.mark.django_db
def test_a_request_id_is_made_when_none_or_a_bad_one_is_sent(client, json_lines):
    made = client.get("/healthz")["X-Request-ID"]
    assert len(made) == 32
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert replaced != made and "\n" not in replaced


@pytest.mark.django_db
def test_webhook_lines_carry_the_call_sid_and_job(client, settings, json_lines):
    settings.TWILIO_AUTH_TOKEN = "log-test-token"
    settings.PUBLIC_BASE_URL = "https://calls.example.com"
    params = {"CallSid": "CA" + "7" * 32, "CallStatus": "ringing"}
    path = "/webhooks/twilio/voice?job_id=77&claim=1"
    signature = RequestValidator("log-test-token").compute_signature(settings.PUBLIC_BASE_URL + path, params)
    assert client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200
    line = next(entry for entry in json_lines() if entry["logger"] == "callcenter.requests")
    assert line["call_sid"] == params["CallSid"] and line["job_id"] == 77
    assert logs.current() == {}, "a request's identifiers never outlive it"


def test_a_task_gets_a_fresh_context_with_the_ids_its_arguments_name(json_lines):
    logs.bind(request_id="left-over")
    logs.bind_task_context("django_q", func=outbound_tasks.fill_slots, task={"args": (5,), "kwargs": {}})
    logging.getLogger("outbound.test").warning("filling")
    line = json_lines()[-1]
    assert line["run_id"] == 5 and line["task"] == "fill_slots"
    assert "request_id" not in line
    logs.clear()


def test_log_format_json_makes_every_line_a_json_object(tmp_path):
    import os
    import subprocess
    import sys

    from tests.plugins.front import PROJECT_DIR

    env = {**os.environ, "LOG_FORMAT": "json", "CALLCENTER_VAR_DIR": str(tmp_path)}
    code = (
        "import logging; from callcenter.ops import logs; logs.bind(call_sid='CA1', run_id=3); "
        "logging.getLogger('outbound.services').warning('dial refused: %s', 'busy')"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=PROJECT_DIR, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    entry = next(line for line in lines if line["logger"] == "outbound.services")
    assert entry["message"] == "dial refused: busy" and entry["level"] == "WARNING"
    assert entry["call_sid"] == "CA1" and entry["run_id"] == 3
