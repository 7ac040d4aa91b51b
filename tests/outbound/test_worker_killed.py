"""A django-q2 worker killed with SIGKILL in the middle of a run: the run still finishes
(safety tick, reconciler, a restarted worker) and no lead is dialed twice."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from callcenter.models import BackgroundJob
from callcenter.twilio_sim import max_overlap
from outbound import services
from outbound.models import OutboundCallJob, OutboundCallRun
from tests.plugins.outbound import make_leads

PROJECT_DIR = Path(django_settings.BASE_DIR)


def start_worker(*, live_server, sim, tmp_path) -> subprocess.Popen:
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


@pytest.mark.django_db(transaction=True)
@pytest.mark.twilio_sim(time_scale=20, seed=11, callback_drop_rate=0.05)
def test_run_survives_a_worker_killed_mid_run(business, settings, live_server, twilio_sim, tmp_path):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.OUTBOUND_DISPATCH = "queue"  # webhooks hand fills to the workers
    settings.TWILIO_CALLS_PER_SECOND = 20
    settings.OUTBOUND_STUCK_CALL_SECONDS = 2
    settings.OUTBOUND_LOST_DIAL_SECONDS = 2
    settings.OUTBOUND_LOST_CLAIM_SECONDS = 5
    settings.OUTBOUND_CALLING_HOURS_START = ""
    settings.OUTBOUND_CALLING_HOURS_END = ""
    leads = make_leads(business, 24)
    phones = {lead.phone for lead in leads}
    worker = start_worker(live_server=live_server, sim=twilio_sim, tmp_path=tmp_path)
    second = None
    try:
        run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
        deadline = time.monotonic() + 60
        while OutboundCallJob.objects.filter(run=run, status__in=OutboundCallJob.FINAL_STATUSES).count() < 6:
            assert time.monotonic() < deadline, "the worker never got the run going"
            time.sleep(0.05)
        kill_cluster(worker)
        killed_at_done = OutboundCallJob.objects.filter(run=run, status__in=OutboundCallJob.FINAL_STATUSES).count()
        assert killed_at_done < len(leads)
        second = start_worker(live_server=live_server, sim=twilio_sim, tmp_path=tmp_path)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if not run.is_active:
                break
            # The schedules' work, done here every half second instead of every minute.
            services.calls_reconcile()
            services.runs_tick()
            time.sleep(0.5)
    finally:
        kill_cluster(worker)
        if second is not None:
            kill_cluster(second, signal.SIGTERM)
    run.refresh_from_db()
    assert run.status == OutboundCallRun.Status.SUCCEEDED
    assert BackgroundJob.objects.get(pk=run.background_job_id).status == BackgroundJob.Status.SUCCEEDED
    sim_calls = twilio_sim.calls()
    assert max_overlap(sim_calls, to_numbers=phones) <= 3
    dialed = Counter(call["to"] for call in sim_calls)
    assert set(dialed) == phones and max(dialed.values()) == 1  # every lead once, none twice
    assert all(job.outcome == "answered" for job in OutboundCallJob.objects.filter(run=run))
