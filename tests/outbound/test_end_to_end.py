"""Whole runs against the local Twilio simulator, its callbacks arriving at a live server."""

import signal
from collections import Counter

import pytest

from callcenter.models import BackgroundJob
from outbound import services
from outbound.models import OutboundCallJob, OutboundCallRun
from tests.plugins.outbound import drive_until_finished, kill_cluster, make_leads, start_worker
from twilio_sim import max_overlap

CallStatus = OutboundCallJob.Status


def assert_run_sound(run: OutboundCallRun, sim_calls: list[dict], phones: set[str]) -> None:
    assert run.status == OutboundCallRun.Status.SUCCEEDED, run.message
    assert BackgroundJob.objects.get(pk=run.background_job_id).status == BackgroundJob.Status.SUCCEEDED
    assert max_overlap(sim_calls, to_numbers=phones) <= run.concurrency
    jobs = list(OutboundCallJob.objects.filter(run=run))
    assert len(jobs) == run.total_leads
    assert all(job.status in OutboundCallJob.FINAL_STATUSES and job.outcome for job in jobs)
    dialed = Counter(call["to"] for call in sim_calls if call["to"] in phones)
    for job in jobs:
        # Each call placed is one attempt; a second one only ever follows busy / no-answer.
        assert dialed[job.phone] == job.attempts, job
        earlier = sorted((c for c in sim_calls if c["to"] == job.phone), key=lambda c: c["created_at"])[:-1]
        assert all(call["status"] in ("busy", "no-answer") for call in earlier), job


@pytest.mark.django_db(transaction=True)
@pytest.mark.twilio_sim(
    time_scale=100,
    seed=7,
    outcomes={"completed": 7, "busy": 1, "no-answer": 1, "failed": 0.5},
    machine_rate=0.2,
    callback_duplicate_rate=0.1,
    callback_reorder_rate=0.1,
    callback_drop_rate=0.05,
)
def test_hundred_leads_with_callback_faults_never_exceed_three_and_all_finish(
    business, wired, settings, live_server, tmp_path
):
    """Real django-q2 worker processes do the fills; callbacks land on the live server."""
    settings.OUTBOUND_DISPATCH = "queue"
    leads = make_leads(business, 100)
    phones = {lead.phone for lead in leads}
    worker = start_worker(
        live_server=live_server, sim=wired, tmp_path=tmp_path, Q_WORKERS="3", OUTBOUND_DIAL_BACKOFF_SECONDS="0.2"
    )
    try:
        run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
        run = drive_until_finished(run, timeout=150)
    finally:
        kill_cluster(worker, signal.SIGTERM)
    assert_run_sound(run, wired.calls(), phones)
    assert max_overlap(wired.calls(), to_numbers=phones) == 3  # the cap was reached, never passed
    outcomes = Counter(OutboundCallJob.objects.filter(run=run).values_list("outcome", flat=True))
    assert outcomes["answered"] > 50 and sum(outcomes.values()) == 100


@pytest.mark.django_db(transaction=True)
@pytest.mark.twilio_sim(time_scale=100, seed=3, calls_per_second=5, rate_limit_mode="reject")
def test_rate_limited_account_still_finishes_within_the_cap(business, wired, settings):
    settings.TWILIO_CALLS_PER_SECOND = 0  # our pacer off: Twilio's 429s do the limiting
    # A call refused again and again backs off exponentially; capped low so that the test
    # measures the recovery, not the backoff.
    settings.OUTBOUND_DIAL_BACKOFF_MAX_SECONDS = 2
    leads = make_leads(business, 15)
    phones = {lead.phone for lead in leads}
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    run = drive_until_finished(run, timeout=60)
    assert_run_sound(run, wired.calls(), phones)


@pytest.mark.django_db(transaction=True)
@pytest.mark.twilio_sim(time_scale=100, seed=5)
def test_invalid_number_fails_and_the_next_lead_is_dialed(business, wired):
    leads = make_leads(business, 5)
    wired.configure(invalid_numbers=frozenset({leads[0].phone}))
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    run = drive_until_finished(run, timeout=30)
    failed = OutboundCallJob.objects.get(run=run, lead=leads[0])
    assert failed.status == CallStatus.FAILED and failed.error_code == "21211"
    assert OutboundCallJob.objects.filter(run=run, status=CallStatus.COMPLETED).count() == 4
    assert run.status == OutboundCallRun.Status.SUCCEEDED
