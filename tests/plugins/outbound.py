"""pytest fixtures shared across the suite (outbound)."""

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from callcenter import twilio_gateway
from leads.models import Lead
from outbound import services
from outbound.models import OutboundCallRun

FINAL_TWILIO_STATUSES = ("completed", "busy", "no-answer", "canceled", "failed")


@dataclass
class FakeCall:
    sid: str
    to: str
    job_id: int
    claim: int
    status: str = "queued"
    next_sequence: int = 0
    created_at: object = None
    answered_by: str | None = None
    sent: list = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.status not in FINAL_TWILIO_STATUSES


class FakeTwilio:
    """Stands in for the gateway functions in dispatch unit tests: records every create,
    raises queued errors, and builds the status callbacks Twilio would send."""

    # Shared by every instance: call SIDs are unique across the whole test database.
    _sids = itertools.count(1)

    def __init__(self):
        self._lock = threading.Lock()
        self.calls: list[FakeCall] = []
        self.create_attempts: list[str] = []
        self.create_errors: list[Exception] = []
        self.max_open = 0
        # The next create places the call but its answer is lost (a timeout).
        self.lose_next_response = False

    def queue_error(self, error: Exception, times: int = 1) -> None:
        with self._lock:
            self.create_errors.extend([error] * times)

    def call_create(self, *, to, twiml_url, status_callback_url, **options):
        query = parse_qs(urlsplit(status_callback_url).query)
        with self._lock:
            self.create_attempts.append(to)
            if self.create_errors:
                raise self.create_errors.pop(0)
            call = FakeCall(
                sid=f"CA{next(FakeTwilio._sids):032d}",
                to=to,
                job_id=int(query["job_id"][0]),
                claim=int(query["claim"][0]),
                created_at=timezone.now(),
            )
            self.calls.append(call)
            self.max_open = max(self.max_open, sum(1 for c in self.calls if c.open))
            if self.lose_next_response:
                self.lose_next_response = False
                raise twilio_gateway.RetryableTwilioError("Read timed out")
        return self.info(call)

    def info(self, call: FakeCall) -> twilio_gateway.CallInfo:
        return twilio_gateway.CallInfo(
            sid=call.sid,
            status=call.status,
            to=call.to,
            from_="+15005550006",
            duration=5 if call.status == "completed" else 0,
            answered_by=call.answered_by,
            start_time=None,
            end_time=None,
            date_created=call.created_at,
        )

    def call_fetch(self, *, call_sid):
        for call in self.calls:
            if call.sid == call_sid:
                return self.info(call)
        raise twilio_gateway.PermanentTwilioError("The requested resource was not found", code=20404, http_status=404)

    def calls_list(self, *, to, started_after, started_before=None):
        return [self.info(c) for c in self.calls if c.to == to and c.created_at >= started_after]

    def open_calls(self) -> list[FakeCall]:
        return [c for c in self.calls if c.open]

    def progress(self, call: FakeCall, status: str, answered_by: str | None = None) -> dict:
        """Move the call at 'Twilio' and return the callback parameters it would send."""
        with self._lock:
            call.status = status
            if answered_by:
                call.answered_by = answered_by
            params = {
                "CallSid": call.sid,
                "CallStatus": status,
                "SequenceNumber": str(call.next_sequence),
                "To": call.to,
            }
            if answered_by:
                params["AnsweredBy"] = answered_by
            if status == "completed":
                params["CallDuration"] = "5"
            call.next_sequence += 1
            call.sent.append(params)
        return params


@pytest.fixture
def fake_twilio(monkeypatch, settings):
    fake = FakeTwilio()
    monkeypatch.setattr(twilio_gateway, "call_create", fake.call_create)
    monkeypatch.setattr(twilio_gateway, "call_fetch", fake.call_fetch)
    monkeypatch.setattr(twilio_gateway, "calls_list", fake.calls_list)
    settings.OUTBOUND_DISPATCH = "inline"
    settings.TWILIO_CALLS_PER_SECOND = 0
    settings.OUTBOUND_CALLING_HOURS_START = ""
    settings.OUTBOUND_CALLING_HOURS_END = ""
    settings.PUBLIC_BASE_URL = "https://callcenter.example.com"
    settings.TWILIO_AUTH_TOKEN = "outbound-test-token"
    return fake


def make_leads(business, count: int, *, do_not_call_every: int = 0, prefix: str = "+97250") -> list[Lead]:
    leads = [
        Lead(
            business=business,
            phone=f"{prefix}{business.pk % 100:02d}{index:05d}",
            name=f"Lead {index}",
            do_not_call=bool(do_not_call_every) and index % do_not_call_every == 0,
        )
        for index in range(count)
    ]
    return Lead.objects.bulk_create(leads)


PROJECT_DIR = Path(django_settings.BASE_DIR)


def start_worker(*, live_server, sim, tmp_path, **extra_env: str) -> subprocess.Popen:
    """A django-q2 cluster (`manage.py qcluster`) on the test database, wired to the simulator."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "PUBLIC_BASE_URL": live_server.url,
        "TWILIO_API_BASE_URL": sim.base_url,
        "TWILIO_ACCOUNT_SID": sim.config.account_sid,
        "TWILIO_AUTH_TOKEN": sim.config.auth_token,
        "TWILIO_FROM_NUMBER": "+15005550006",
        "TWILIO_CALLS_PER_SECOND": "20",
        "OUTBOUND_DISPATCH": "queue",
        "Q_WORKERS": "2",
        "CALLCENTER_VAR_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    env.pop("REDIS_URL", None)
    # A session of its own, so the whole cluster (sentinel and workers) can be killed at once.
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=PROJECT_DIR,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill_cluster(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture
def wired(settings, live_server, twilio_sim):
    """Callbacks reach the live server, which fills slots inline; reconciler thresholds short."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.OUTBOUND_DISPATCH = "inline"
    settings.TWILIO_CALLS_PER_SECOND = 50
    settings.OUTBOUND_MAX_ATTEMPTS = 2
    settings.OUTBOUND_RETRY_DELAY_SECONDS = 0
    settings.OUTBOUND_DIAL_BACKOFF_SECONDS = 0.2
    settings.OUTBOUND_STUCK_CALL_SECONDS = 1
    settings.OUTBOUND_LOST_DIAL_SECONDS = 2
    settings.TWILIO_TIMEOUT_SECONDS = 2  # a dial is only lost once its request has timed out
    settings.OUTBOUND_CALLING_HOURS_START = ""
    settings.OUTBOUND_CALLING_HOURS_END = ""
    return twilio_sim


def drive_until_finished(run: OutboundCallRun, *, timeout: float) -> OutboundCallRun:
    """What the schedules do in production: reconcile and tick, here every 300 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if not run.is_active:
            return run
        services.calls_reconcile()
        services.runs_tick()
        time.sleep(0.3)
    run.refresh_from_db()
    return run
