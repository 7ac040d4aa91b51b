"""Runs through the simulator reaching what production hits and a demo rarely does: every
answering-machine result, a failed call's SIP code, and a run cancelled while its calls ring."""

from collections import Counter

import pytest

from callcenter.services import background_job_request_cancel
from outbound import services
from outbound.models import OutboundCallJob, OutboundCallRun
from tests.outbound.test_end_to_end import assert_run_sound
from tests.plugins.outbound import drive_until_finished, make_leads
from twilio_sim import max_overlap
from twilio_sim.config import ANSWERED_BY_VALUES, MACHINE_END_VALUES

CallStatus = OutboundCallJob.Status
Outcome = OutboundCallJob.Outcome
MACHINE_RESULTS = {"machine_start", *MACHINE_END_VALUES, "fax"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", [True, "DetectMessageEnd"])
@pytest.mark.twilio_sim(time_scale=100, seed=21, answered_by=dict.fromkeys(ANSWERED_BY_VALUES, 1))
def test_each_answering_machine_result_maps_to_its_outcome(business, wired, settings, mode):
    settings.OUTBOUND_MACHINE_DETECTION = mode
    leads = make_leads(business, 30)
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    run = drive_until_finished(run, timeout=60)
    assert_run_sound(run, wired.calls(), {lead.phone for lead in leads})

    results = Counter()
    for job in OutboundCallJob.objects.filter(run=run):
        expected = Outcome.MACHINE if job.answered_by in MACHINE_RESULTS else Outcome.ANSWERED
        assert job.outcome == expected, (job.answered_by, job.outcome)
        results[job.answered_by] += 1
    machine_results = (
        {"machine_start"} if mode is True else {"machine_end_beep", "machine_end_silence", "machine_end_other"}
    )
    assert set(results) == {"human", "fax", "unknown"} | machine_results


@pytest.mark.django_db(transaction=True)
@pytest.mark.twilio_sim(time_scale=100, seed=22, sip_response_codes={"failed": 503})
def test_a_failed_calls_sip_code_is_kept_on_the_call(business, wired):
    leads = make_leads(business, 4)
    wired.configure(outcomes_by_number={leads[0].phone: "failed", leads[1].phone: "busy"})
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    run = drive_until_finished(run, timeout=30)
    assert_run_sound(run, wired.calls(), {lead.phone for lead in leads})

    failed = OutboundCallJob.objects.get(run=run, lead=leads[0])
    assert failed.outcome == Outcome.FAILED and failed.status == CallStatus.FAILED
    assert failed.error_code == "31503" and failed.error_message == "Service Unavailable (SIP 503)"
    busy = OutboundCallJob.objects.get(run=run, lead=leads[1])
    assert busy.outcome == Outcome.BUSY and busy.error_code == "31486" and "SIP 486" in busy.error_message


def _cancel_run(run: OutboundCallRun) -> None:
    services.outbound_run_cancel(business=run.business, run_id=run.pk)


def _cancel_its_job(run: OutboundCallRun) -> None:
    # POST /api/jobs/{id}/cancel: the next fill (here the safety tick) cancels the run.
    background_job_request_cancel(business=run.business, job_id=run.background_job_id)
    services.runs_tick()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cancel", [_cancel_run, _cancel_its_job])
@pytest.mark.twilio_sim(time_scale=20, seed=23, ring_delay_seconds=0.5, answer_delay_seconds=25, talk_seconds=5)
def test_cancelling_a_run_cancels_its_ringing_calls_at_twilio(business, wired, cancel):
    leads = make_leads(business, 9)
    phones = {lead.phone for lead in leads}
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})

    # Three calls ring (25 s before anyone answers, 1.25 s at 20x); the run is cancelled then.
    assert wired.wait_for(lambda: sum(c["status"] == "ringing" for c in wired.calls()) == 3, timeout=10)
    cancel(run)
    run = drive_until_finished(run, timeout=20)

    sim_calls = wired.calls()
    assert len(sim_calls) == 3  # nothing dialed after the cancel
    assert all(c["status"] == "canceled" and c["ended_by_api"] and c["answered_at"] is None for c in sim_calls)
    assert max_overlap(sim_calls, to_numbers=phones) == 3
    assert run.status == OutboundCallRun.Status.CANCELED
    jobs = OutboundCallJob.objects.filter(run=run)
    assert Counter(job.status for job in jobs) == {CallStatus.CANCELED: 9}
    assert all(job.slot is None for job in jobs)  # no slot leaked
    dialed = [job for job in jobs if job.call_sid]
    assert len(dialed) == 3 and all(job.twilio_status == "canceled" and job.ended_at for job in dialed)
    assert wired.wait_idle()


@pytest.mark.django_db(transaction=True)
@pytest.mark.twilio_sim(time_scale=100, seed=23)
def test_calls_subscribe_to_ringing_answered_and_completed_only(business, wired):
    # "initiated" would follow calls.create's own answer and change nothing: a webhook spared per call.
    from outbound.models import CallEvent

    leads = make_leads(business, 3)
    wired.configure(outcomes_by_number={lead.phone: "completed" for lead in leads})
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    run = drive_until_finished(run, timeout=30)
    assert_run_sound(run, wired.calls(), {lead.phone for lead in leads})

    for call in wired.calls():
        assert call["status_callback_events"] == ["answered", "completed", "ringing"]
    statuses = Counter(CallEvent.objects.filter(job__run=run).values_list("call_status", flat=True))
    assert statuses == {"ringing": 3, "in-progress": 3, "completed": 3}
