"""A django-q2 worker killed with SIGKILL in the middle of a run: the run still finishes
(safety tick, reconciler, a restarted worker) and no lead is dialed twice."""

import signal
import time
from collections import Counter

import pytest

from callcenter.models import BackgroundJob
from outbound import services
from outbound.models import OutboundCallJob, OutboundCallRun
from tests.plugins.outbound import kill_cluster, make_leads, start_worker
from twilio_sim import max_overlap


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
