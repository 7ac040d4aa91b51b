"""Filling slots: the cap, the seed's bug, Twilio errors, do-not-call, pacing and hours."""

import threading
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from callcenter import twilio_gateway
from callcenter.models import BackgroundJob
from outbound import services
from outbound.models import CallAttempt, CallingHours, OutboundCallJob, OutboundCallRun
from tests.plugins.outbound import make_leads

CallStatus = OutboundCallJob.Status


def start_run(business, count, *, concurrency=3, **lead_options):
    leads = make_leads(business, count, **lead_options)
    return services.outbound_run_start(
        business=business, selection={"lead_ids": [lead.pk for lead in leads]}, concurrency=concurrency
    )


def active_calls(run) -> list[OutboundCallJob]:
    return list(OutboundCallJob.objects.filter(run=run, status__in=OutboundCallJob.ACTIVE_STATUSES))


def finish(fake, call, status="completed"):
    params = fake.progress(call, status)
    return services.call_status_callback_record(job_id=call.job_id, claim_number=call.claim, params=params)


@pytest.mark.django_db(transaction=True)
def test_three_leads_all_start_at_once(business, fake_twilio):
    run = start_run(business, 3)
    assert len(fake_twilio.calls) == 3
    assert sorted(job.slot for job in active_calls(run)) == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_seed_bug_calls_stuck_in_dialing_never_let_a_fourth_start(business, fake_twilio):
    """The seed: counting only "calling" let every fill start three more. Callbacks are
    delayed here (nothing leaves "dialing"), while threads hammer the filler at once."""
    run = start_run(business, 20)
    assert len(fake_twilio.calls) == 3
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def hammer():
        try:
            barrier.wait()
            for _round in range(15):
                services.run_fill_slots(run_id=run.pk)
        except BaseException as error:  # reported by the test below, not swallowed
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(fake_twilio.calls) == 3
    assert fake_twilio.max_open == 3
    assert {job.status for job in active_calls(run)} == {CallStatus.DIALING}
    assert len(active_calls(run)) == 3


@pytest.mark.django_db(transaction=True)
def test_each_finished_call_starts_the_next_until_the_run_succeeds(business, fake_twilio):
    run = start_run(business, 7)
    while fake_twilio.open_calls():
        call = fake_twilio.open_calls()[0]
        finish(fake_twilio, fake_twilio.progress(call, "in-progress") and call)
        assert len(active_calls(run)) <= 3
    run.refresh_from_db()
    assert run.status == OutboundCallRun.Status.SUCCEEDED
    assert fake_twilio.max_open == 3 and len(fake_twilio.calls) == 7
    assert set(OutboundCallJob.objects.filter(run=run).values_list("outcome", flat=True)) == {"answered"}
    job = BackgroundJob.objects.get(pk=run.background_job_id)
    assert job.status == BackgroundJob.Status.SUCCEEDED and job.finished_at is not None


@pytest.mark.django_db(transaction=True)
def test_terminal_status_while_still_dialing_releases_the_slot(business, fake_twilio):
    run = start_run(business, 4)
    call = fake_twilio.calls[0]
    assert finish(fake_twilio, call, "no-answer") == "released"
    assert len(fake_twilio.calls) == 4
    assert len(active_calls(run)) == 3


@pytest.mark.django_db(transaction=True)
def test_database_refuses_a_fourth_active_call_and_a_slot_outside_1_to_3(business, fake_twilio):
    run = start_run(business, 5)
    queued = OutboundCallJob.objects.filter(run=run, status=CallStatus.QUEUED).first()
    # PostgreSQL names the index, SQLite its columns.
    one_call_per_slot = "outbound_call_jobs_one_call_per_slot|outbound_call_jobs.run_id, outbound_call_jobs.slot"
    with pytest.raises(IntegrityError, match=one_call_per_slot), transaction.atomic():
        OutboundCallJob.objects.filter(pk=queued.pk).update(status=CallStatus.DIALING, slot=2)
    with pytest.raises(IntegrityError, match="outbound_call_jobs_slot_iff_active"), transaction.atomic():
        OutboundCallJob.objects.filter(pk=queued.pk).update(status=CallStatus.DIALING, slot=4)
    with pytest.raises(IntegrityError, match="outbound_call_jobs_slot_iff_active"), transaction.atomic():
        OutboundCallJob.objects.filter(pk=queued.pk).update(status=CallStatus.CALLING, slot=None)


@pytest.mark.django_db(transaction=True)
def test_rate_limited_dials_release_their_slots_and_resume_when_the_limit_lifts(business, fake_twilio, settings):
    settings.OUTBOUND_DIAL_BACKOFF_SECONDS = 0
    fake_twilio.queue_error(twilio_gateway.RetryableTwilioError("Too Many Requests", code=20429, http_status=429), 3)
    run = start_run(business, 5)
    assert fake_twilio.calls == [] and len(fake_twilio.create_attempts) == 3
    assert active_calls(run) == []
    queued = OutboundCallJob.objects.filter(run=run, status=CallStatus.QUEUED)
    assert queued.count() == 5
    assert set(queued.filter(dial_errors=1).values_list("attempts", flat=True)) == {0}
    services.run_fill_slots(run_id=run.pk)  # the limit has lifted
    assert len(fake_twilio.calls) == 3 and len(active_calls(run)) == 3


@pytest.mark.django_db(transaction=True)
def test_invalid_number_fails_that_call_and_the_next_lead_is_dialed(business, fake_twilio):
    fake_twilio.queue_error(twilio_gateway.PermanentTwilioError("Invalid 'To' number", code=21211, http_status=400))
    run = start_run(business, 5)
    failed = OutboundCallJob.objects.get(run=run, status=CallStatus.FAILED)
    assert failed.outcome == "invalid_number" and failed.error_code == "21211" and failed.slot is None
    attempt = CallAttempt.objects.get(call=failed)
    assert (attempt.attempt_number, attempt.outcome, attempt.error_code) == (1, "invalid_number", "21211")
    assert attempt.call_sid is None and attempt.twilio_status == "" and attempt.lead_id == failed.lead_id
    assert len(fake_twilio.calls) == 3 and len(active_calls(run)) == 3


@pytest.mark.django_db(transaction=True)
def test_timeout_keeps_the_slot_until_the_reconciler_resolves_it(business, fake_twilio, settings):
    fake_twilio.queue_error(twilio_gateway.RetryableTwilioError("timed out"))
    run = start_run(business, 1)
    job = OutboundCallJob.objects.get(run=run)
    assert job.status == CallStatus.DIALING and job.call_sid is None and job.dial_started_at is not None
    settings.OUTBOUND_LOST_DIAL_SECONDS = 0
    services.calls_reconcile(now=timezone.now() + timedelta(seconds=1))
    job.refresh_from_db()
    # Not found at Twilio: released and dialed again at once.
    assert job.status == CallStatus.DIALING and job.call_sid is not None and job.attempts == 1
    assert len(fake_twilio.calls) == 1


@pytest.mark.django_db(transaction=True)
def test_a_call_placed_but_whose_answer_was_lost_is_adopted_not_dialed_again(business, fake_twilio, settings):
    fake_twilio.lose_next_response = True
    run = start_run(business, 1)
    job = OutboundCallJob.objects.get(run=run)
    assert job.call_sid is None and len(fake_twilio.calls) == 1
    settings.OUTBOUND_LOST_DIAL_SECONDS = 0
    fake_twilio.progress(fake_twilio.calls[0], "in-progress")
    summary = services.calls_reconcile(now=timezone.now() + timedelta(seconds=1))
    job.refresh_from_db()
    assert summary["adopted"] == 1
    assert job.call_sid == fake_twilio.calls[0].sid and job.status == CallStatus.CALLING
    assert len(fake_twilio.create_attempts) == 1


@pytest.mark.django_db(transaction=True)
def test_do_not_call_leads_are_skipped_at_dial_time(business, fake_twilio):
    run = start_run(business, 6, do_not_call_every=2)
    skipped = OutboundCallJob.objects.filter(run=run, status=CallStatus.SKIPPED)
    assert skipped.count() == 3 and set(skipped.values_list("outcome", flat=True)) == {"do_not_call"}
    assert len(fake_twilio.calls) == 3


@pytest.mark.django_db(transaction=True)
def test_a_run_of_only_do_not_call_leads_ends_at_once(business, fake_twilio):
    run = start_run(business, 2, do_not_call_every=1)
    run.refresh_from_db()
    assert run.status == OutboundCallRun.Status.SUCCEEDED and fake_twilio.calls == []


@pytest.mark.django_db(transaction=True)
def test_busy_is_retried_after_the_delay_without_holding_a_slot(business, fake_twilio, settings):
    settings.OUTBOUND_MAX_ATTEMPTS = 2
    settings.OUTBOUND_RETRY_DELAY_SECONDS = 600
    run = start_run(business, 1)
    finish(fake_twilio, fake_twilio.calls[0], "busy")
    job = OutboundCallJob.objects.get(run=run)
    assert job.status == CallStatus.QUEUED and job.slot is None and job.attempts == 1
    services.run_fill_slots(run_id=run.pk)
    assert len(fake_twilio.calls) == 1  # not due yet
    OutboundCallJob.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now())
    services.run_fill_slots(run_id=run.pk)
    second = fake_twilio.calls[1]
    finish(fake_twilio, second, "busy")
    job.refresh_from_db()
    assert job.status == CallStatus.COMPLETED and job.outcome == "busy" and job.attempts == 2
    run.refresh_from_db()
    assert run.status == OutboundCallRun.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_outside_calling_hours_nothing_is_dialed_until_they_open(business, fake_twilio, settings):
    settings.OUTBOUND_CALLING_HOURS_START, settings.OUTBOUND_CALLING_HOURS_END = "09:00", "20:00"
    # 21:30 in Israel (the business's zone, and the zone of these mobile numbers).
    with time_machine.travel(datetime(2026, 11, 30, 19, 30, tzinfo=UTC), tick=False) as clock:
        run = start_run(business, 3)
        assert fake_twilio.calls == [] and active_calls(run) == []
        waiting = OutboundCallJob.objects.filter(run=run, status=CallStatus.QUEUED)
        opening = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 09:00 in Israel
        assert set(waiting.values_list("next_attempt_at", flat=True)) == {opening}
        clock.move_to(opening)
        services.runs_tick()
        assert len(fake_twilio.calls) == 3


@pytest.mark.django_db(transaction=True)
def test_a_business_own_calling_hours_apply_in_its_time_zone(business, fake_twilio):
    business.time_zone = "America/New_York"
    business.save()
    CallingHours.objects.create(business=business, start=dt_time(10, 0), end=dt_time(12, 0))
    # 09:00 in New York: the leads' numbers map to no zone of their own, so the business's applies.
    with time_machine.travel(datetime(2026, 11, 30, 14, 0, tzinfo=UTC), tick=False) as clock:
        run = start_run(business, 2)
        assert fake_twilio.calls == []
        clock.move_to(datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
        services.run_fill_slots(run_id=run.pk)
        assert len(fake_twilio.calls) == 2


@pytest.mark.django_db(transaction=True)
def test_pacer_spaces_dials_across_threads(settings):
    settings.TWILIO_CALLS_PER_SECOND = 20
    stamps: list[float] = []

    def dial():
        try:
            services.dial_pacer_wait()
            stamps.append(time.monotonic())
        finally:
            connection.close()

    threads = [threading.Thread(target=dial) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    # Ten dials at 20/s take at least 9 intervals of 50 ms, whichever thread sent them.
    assert stamps[-1] - stamps[0] >= 9 * 0.05 * 0.9
