"""Any interleaving of start, fills, callbacks (any order, duplicated), Twilio errors,
reconciling, pause, resume and cancel keeps a run's invariants, and the run always ends."""

import contextlib
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from callcenter import twilio_gateway
from callcenter.errors import Conflict
from callcenter.models import BackgroundJob
from outbound import services
from outbound.models import OutboundCallJob, OutboundCallRun
from outbound.selectors import call_status_counts
from tests.factories import BusinessFactory
from tests.plugins.outbound import make_leads

CallStatus = OutboundCallJob.Status
FORWARD = {
    "queued": ["ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"],
    "ringing": ["in-progress", "busy", "no-answer", "failed", "canceled"],
    "in-progress": ["completed"],
}
ERRORS = {
    "rate_limited": lambda: twilio_gateway.RetryableTwilioError("Too Many Requests", code=20429, http_status=429),
    "server_error": lambda: twilio_gateway.RetryableTwilioError("Service Unavailable", http_status=503),
    "invalid_number": lambda: twilio_gateway.PermanentTwilioError("Invalid 'To'", code=21211, http_status=400),
    "timeout": lambda: twilio_gateway.RetryableTwilioError("Read timed out"),
}


@pytest.mark.django_db(transaction=True)
def test_run_invariants_hold_under_any_interleaving(fake_twilio, settings):
    settings.OUTBOUND_MAX_ATTEMPTS = 2
    settings.OUTBOUND_RETRY_DELAY_SECONDS = 0
    settings.OUTBOUND_DIAL_BACKOFF_SECONDS = 0
    settings.OUTBOUND_STUCK_CALL_SECONDS = 0
    settings.OUTBOUND_LOST_DIAL_SECONDS = 0
    settings.OUTBOUND_LOST_CLAIM_SECONDS = 0

    class RunMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            fake_twilio.__init__()
            self.business = BusinessFactory()
            self.run = None

        @initialize(leads=st.integers(min_value=1, max_value=7), concurrency=st.integers(min_value=1, max_value=3))
        def start(self, leads, concurrency):
            ids = [lead.pk for lead in make_leads(self.business, leads, do_not_call_every=5)]
            self.run = services.outbound_run_start(
                business=self.business, selection={"lead_ids": ids}, concurrency=concurrency
            )

        @rule()
        def fill(self):
            services.run_fill_slots(run_id=self.run.pk)

        @rule(data=st.data())
        def twilio_progresses_a_call(self, data):
            open_calls = fake_twilio.open_calls()
            if not open_calls:
                return
            call = data.draw(st.sampled_from(open_calls))
            status = data.draw(st.sampled_from(FORWARD[call.status]))
            answered_by = data.draw(st.sampled_from([None, "human", "machine_start"]))
            params = fake_twilio.progress(call, status, answered_by=answered_by if status == "in-progress" else None)
            if data.draw(st.booleans()):  # delivered now, or dropped / delayed for a replay
                services.call_status_callback_record(job_id=call.job_id, claim_number=call.claim, params=params)

        @rule(data=st.data())
        def twilio_redelivers_a_callback(self, data):
            sent = [(call, params) for call in fake_twilio.calls for params in call.sent]
            if sent:
                call, params = data.draw(st.sampled_from(sent))
                services.call_status_callback_record(job_id=call.job_id, claim_number=call.claim, params=params)

        @rule(kind=st.sampled_from([*ERRORS, "answer_lost"]))
        def next_dial_goes_wrong(self, kind):
            if kind == "answer_lost":
                fake_twilio.lose_next_response = True
            else:
                fake_twilio.queue_error(ERRORS[kind]())

        @rule()
        def reconcile(self):
            services.calls_reconcile(now=timezone.now() + timedelta(seconds=settings.TWILIO_TIMEOUT_SECONDS + 1))

        @rule()
        def retries_fall_due(self):
            OutboundCallJob.objects.filter(run=self.run, status=CallStatus.QUEUED).update(
                next_attempt_at=timezone.now()
            )

        @rule(action=st.sampled_from(["pause", "resume", "cancel"]))
        def control(self, action):
            service = getattr(services, f"outbound_run_{action}")
            with contextlib.suppress(Conflict):  # e.g. resuming a run that is not paused
                service(business=self.business, run_id=self.run.pk)

        @invariant()
        def cap_and_counts_hold(self):
            if self.run is None:
                return
            run = OutboundCallRun.objects.get(pk=self.run.pk)
            active = list(
                OutboundCallJob.objects.filter(run=run, status__in=OutboundCallJob.ACTIVE_STATUSES).values_list(
                    "slot", flat=True
                )
            )
            assert len(active) <= run.concurrency
            assert len(set(active)) == len(active) and all(1 <= slot <= run.concurrency for slot in active)
            assert sum(call_status_counts(run_id=run.pk).values()) == run.total_leads
            assert len(fake_twilio.open_calls()) <= run.concurrency
            calls_per_job = Counter(call.job_id for call in fake_twilio.calls)
            assert max(calls_per_job.values(), default=0) <= run.max_attempts
            claims = Counter((call.job_id, call.claim) for call in fake_twilio.calls)
            assert max(claims.values(), default=0) == (1 if claims else 0)

        def teardown(self):
            if self.run is None:
                return
            fake_twilio.create_errors.clear()
            fake_twilio.lose_next_response = False
            for _round in range(60):
                run = OutboundCallRun.objects.get(pk=self.run.pk)
                if not run.is_active:
                    break
                if run.status == OutboundCallRun.Status.PAUSED and run.cancel_requested_at is None:
                    services.outbound_run_resume(business=self.business, run_id=run.pk)
                for call in fake_twilio.open_calls():
                    params = fake_twilio.progress(call, "in-progress" if call.status != "in-progress" else "completed")
                    services.call_status_callback_record(job_id=call.job_id, claim_number=call.claim, params=params)
                self.retries_fall_due()
                self.reconcile()
                self.fill()
            run = OutboundCallRun.objects.get(pk=self.run.pk)
            assert run.status in (OutboundCallRun.Status.SUCCEEDED, OutboundCallRun.Status.CANCELED)
            job = BackgroundJob.objects.get(pk=run.background_job_id)
            # The jobs API keeps its own spelling of a cancel.
            assert job.status == {"canceled": "cancelled"}.get(run.status, run.status) and job.finished_at is not None
            calls = OutboundCallJob.objects.filter(run=run)
            assert all(call.status in OutboundCallJob.FINAL_STATUSES and call.outcome for call in calls)
            assert calls.count() == run.total_leads

    run_state_machine_as_test(
        RunMachine,
        settings=hypothesis_settings(
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
