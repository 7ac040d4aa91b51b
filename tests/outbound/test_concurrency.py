"""Real threads against PostgreSQL doing everything at once to one run: fills, callbacks
(duplicated, in any order), reconciling, pause / resume. Nothing deadlocks or errors, the
cap holds at every sample, and the run still ends with every lead finished once."""

import contextlib
import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from callcenter.errors import Conflict
from outbound import services
from outbound.models import OutboundCallJob, OutboundCallRun
from outbound.selectors import call_status_counts
from tests.plugins.outbound import make_leads

CallStatus = OutboundCallJob.Status


@pytest.mark.django_db(transaction=True)
def test_everything_at_once_keeps_the_cap_and_finishes(business, fake_twilio, settings):
    settings.OUTBOUND_MAX_ATTEMPTS = 2
    settings.OUTBOUND_RETRY_DELAY_SECONDS = 0
    settings.OUTBOUND_STUCK_CALL_SECONDS = 0
    leads = make_leads(business, 40)
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    stop = threading.Event()
    errors: list[BaseException] = []
    samples: list[int] = []

    def worker(seed: int):
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                action = rng.random()
                if action < 0.45:
                    open_calls = fake_twilio.open_calls()
                    if open_calls:
                        call = rng.choice(open_calls)
                        status = rng.choice(["in-progress", "completed", "busy", "no-answer", "completed"])
                        params = fake_twilio.progress(call, status)
                        for _copy in range(rng.choice([1, 1, 2])):
                            services.call_status_callback_record(
                                job_id=call.job_id, claim_number=call.claim, params=params
                            )
                elif action < 0.75:
                    services.run_fill_slots(run_id=run.pk)
                elif action < 0.85:
                    services.calls_reconcile(now=timezone.now() + timedelta(seconds=1))
                else:
                    control = rng.choice([services.outbound_run_pause, services.outbound_run_resume])
                    with contextlib.suppress(Conflict):  # already paused / running
                        control(business=business, run_id=run.pk)
        except BaseException as error:  # collected and asserted on below
            errors.append(error)
        finally:
            connection.close()

    def sampler():
        try:
            while not stop.is_set():
                samples.append(
                    OutboundCallJob.objects.filter(run=run, status__in=OutboundCallJob.ACTIVE_STATUSES).count()
                )
                time.sleep(0.005)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(6)]
    threads.append(threading.Thread(target=sampler))
    for thread in threads:
        thread.start()
    time.sleep(4)
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(fake_twilio.calls) >= 10, "the threads hardly did anything"
    assert samples and max(samples) <= 3
    assert len(fake_twilio.open_calls()) <= 3 and fake_twilio.max_open <= 3

    # Then let it finish: resume, answer every open call, fill until the run ends.
    for _round in range(200):
        run.refresh_from_db()
        if not run.is_active:
            break
        if run.status == OutboundCallRun.Status.PAUSED:
            services.outbound_run_resume(business=business, run_id=run.pk)
        for call in fake_twilio.open_calls():
            services.call_status_callback_record(
                job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "completed")
            )
        OutboundCallJob.objects.filter(run=run, status=CallStatus.QUEUED).update(next_attempt_at=timezone.now())
        services.run_fill_slots(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == OutboundCallRun.Status.SUCCEEDED
    counts = call_status_counts(run_id=run.pk)
    assert sum(counts.values()) == 40 and counts[CallStatus.COMPLETED] == 40
    per_job = {}
    for call in fake_twilio.calls:
        per_job.setdefault(call.job_id, set()).add(call.claim)
    assert all(len(claims) <= 2 for claims in per_job.values())
    assert len(fake_twilio.calls) == sum(len(claims) for claims in per_job.values())
