"""Call history and lead outcomes: every attempt kept, outcomes in the API, calls.csv."""

import csv
import io
import time

import pytest
from django.utils import timezone

from leads.models import Lead
from leads.services import lead_create
from outbound import services
from outbound.models import CallAttempt, OutboundCallJob, OutboundCallRun
from outbound.selectors import run_outcome_counts
from tests.plugins.outbound import drive_until_finished, make_leads

CallStatus = OutboundCallJob.Status
SEED_PROGRESS_KEYS = {"run_id", "status", "queued", "in_progress", "completed", "failed", "total_leads", "concurrency"}
# The outcome counts of a run none of whose leads has finished (the API's contract: every key).
NO_OUTCOMES = dict.fromkeys(
    ["answered", "busy", "no_answer", "machine", "failed", "invalid_number", "do_not_call", "opted_out", "canceled"], 0
)


def wait_for(condition, *, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
@pytest.mark.twilio_sim(time_scale=100, seed=11)
def test_busy_then_answered_leads_keep_both_attempts_and_the_run_counts_them(business, wired, settings, api):
    settings.OUTBOUND_RETRY_DELAY_SECONDS = 2
    leads = make_leads(business, 4)
    wired.configure(outcomes_by_number={lead.phone: "busy" for lead in leads})
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    waiting_retry = OutboundCallJob.objects.filter(run=run, status=CallStatus.QUEUED, attempts=1)
    wait_for(lambda: waiting_retry.count() == 4, timeout=20, message="the first attempts did not all end busy")
    wired.configure(outcomes_by_number={})  # from now on every call is answered
    run = drive_until_finished(run, timeout=60)
    assert run.status == OutboundCallRun.Status.SUCCEEDED, run.message

    for lead in leads:
        call = OutboundCallJob.objects.get(run=run, lead=lead)
        first, second = CallAttempt.objects.filter(call=call).order_by("attempt_number")
        assert (call.attempts, first.attempt_number, second.attempt_number) == (2, 1, 2)
        assert (first.outcome, first.twilio_status, first.answered_at) == ("busy", "busy", None)
        assert (second.outcome, second.twilio_status) == ("answered", "completed")
        assert second.answered_at is not None and second.duration_seconds
        assert first.call_sid and second.call_sid and first.call_sid != second.call_sid
        assert first.dial_started_at < first.ended_at <= second.dial_started_at < second.ended_at
        assert first.claim_number < second.claim_number and first.phone == second.phone == lead.phone
        lead.refresh_from_db()
        assert (lead.last_outcome, lead.status, lead.call_attempts) == ("answered", Lead.Status.CONTACTED, 2)
        assert lead.last_called_at is not None

    outcomes = run_outcome_counts(run=run)
    assert outcomes == {**NO_OUTCOMES, "answered": 4}

    progress = api.get(f"/api/outbound/runs/{run.pk}").json()
    assert progress["outcomes"] == outcomes and progress["answer_rate"] == 1.0
    assert progress["started_at"] and progress["finished_at"] and progress["eta_seconds"] == 0
    rows = api.get(f"/api/outbound/runs/{run.pk}/calls").json()["results"]
    assert [len(row["history"]) for row in rows] == [2, 2, 2, 2] and all(row["attempts"] == 2 for row in rows)
    assert [attempt["outcome"] for attempt in rows[0]["history"]] == ["busy", "answered"]
    lead_calls = api.get(f"/api/leads/{leads[0].pk}/calls").json()["results"]
    assert [attempt["outcome"] for attempt in lead_calls] == ["answered", "busy"]  # latest first


@pytest.mark.django_db(transaction=True)
def test_a_lead_s_calls_of_another_business_are_not_found(api, other_business):
    lead = make_leads(other_business, 1)[0]
    assert api.get(f"/api/leads/{lead.pk}/calls").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_progress_keeps_the_seed_shape_and_adds_outcomes(api, business, fake_twilio):
    leads = make_leads(business, 5)
    started = api.post("/api/outbound/runs", {"lead_ids": [lead.pk for lead in leads]}, format="json").json()
    progress = api.get(f"/api/outbound/runs/{started['run_id']}").json()
    assert set(progress) >= SEED_PROGRESS_KEYS
    assert (progress["queued"], progress["in_progress"], progress["completed"], progress["failed"]) == (2, 3, 0, 0)
    assert (progress["total_leads"], progress["concurrency"], progress["status"]) == (5, 3, "running")
    assert set(progress["outcomes"]) == set(NO_OUTCOMES)
    assert progress["answer_rate"] is None and progress["eta_seconds"] is None
    assert progress["waiting_for_calling_hours"] is False


@pytest.mark.django_db(transaction=True)
def test_calls_csv_has_one_line_per_attempt_with_formula_cells_neutralised(api, business, fake_twilio, settings):
    settings.OUTBOUND_MAX_ATTEMPTS = 2
    settings.OUTBOUND_RETRY_DELAY_SECONDS = 0
    evil = lead_create(business=business, phone="+972507654321", name="=cmd|' /C calc'!A0")
    plain = lead_create(business=business, phone="+972526000001", name="-2+3")
    run = services.outbound_run_start(business=business, selection={"lead_ids": [evil.pk, plain.pk]})
    by_phone = {call.to: call for call in fake_twilio.calls}
    busy = fake_twilio.progress(by_phone[evil.phone], "busy", answered_by=None)
    services.call_status_callback_record(job_id=by_phone[evil.phone].job_id, claim_number=1, params=busy)
    for call in fake_twilio.open_calls():
        services.call_status_callback_record(
            job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "completed")
        )
    run.refresh_from_db()
    assert run.status == OutboundCallRun.Status.SUCCEEDED

    response = api.get(f"/api/outbound/runs/{run.pk}/calls.csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(text)))
    assert len(lines) == CallAttempt.objects.filter(run=run).count() == 3
    evil_lines = [line for line in lines if line["phone"] == evil.phone]
    assert [(line["attempt"], line["outcome"]) for line in evil_lines] == [("1", "busy"), ("2", "answered")]
    assert {line["lead_name"] for line in evil_lines} == {"'=cmd|' /C calc'!A0"}
    assert next(line for line in lines if line["phone"] == plain.phone)["lead_name"] == "'-2+3"
    # Phones read back exactly as stored.
    assert {line["phone"] for line in lines} == {evil.phone, plain.phone}
    for line in lines:
        for column, value in line.items():
            if column != "phone":
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (column, value)


@pytest.mark.django_db(transaction=True)
def test_invalid_number_is_its_own_outcome_and_lead_outcome(business, fake_twilio):
    from callcenter import twilio_gateway

    fake_twilio.queue_error(twilio_gateway.PermanentTwilioError("Invalid 'To' number", code=21211, http_status=400))
    lead = make_leads(business, 1)[0]
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk]})
    run.refresh_from_db()
    lead.refresh_from_db()
    assert run.status == OutboundCallRun.Status.SUCCEEDED
    assert run_outcome_counts(run=run)["invalid_number"] == 1
    assert (lead.last_outcome, lead.status, lead.call_attempts) == ("invalid_number", Lead.Status.NEW, 1)
    assert lead.last_called_at <= timezone.now()


@pytest.mark.django_db(transaction=True)
def test_deleting_a_lead_keeps_its_attempts_for_the_run_s_report(business, fake_twilio):
    from leads.services import lead_delete

    lead = make_leads(business, 1)[0]
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk]})
    call = fake_twilio.calls[0]
    services.call_status_callback_record(
        job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "completed")
    )
    lead_delete(business=business, lead_id=lead.pk)
    assert not Lead.objects.filter(pk=lead.pk).exists()
    attempt = CallAttempt.objects.get(run=run)
    assert (attempt.lead_id, attempt.phone, attempt.lead_name, attempt.outcome) == (
        None,
        lead.phone,
        lead.name,
        "answered",
    )
