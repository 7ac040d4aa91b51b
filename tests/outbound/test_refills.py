"""Event-driven refills: whatever frees or postpones work arranges the run's next fill for the
moment it becomes possible, and the run finishes without the minute schedules.

The clock is frozen (time-machine) and Twilio is the fake gateway; a wake-up is handed out by
`wakeups_fire`, as the pump in each qcluster worker does, and fills run inline.
"""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.utils import timezone

from callcenter import twilio_gateway
from outbound import services, tasks
from outbound.models import CallingHours, OutboundCallJob, OutboundCallRun, RunWakeup
from outbound.services import wakeups
from tests.plugins.outbound import make_leads

CallStatus = OutboundCallJob.Status
START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 10:00 in Asia/Jerusalem


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def no_minute_schedules(monkeypatch):
    """The reconciler and the safety tick must not be what finishes these runs."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the minute schedule was needed")

    monkeypatch.setattr(tasks, "reconcile_calls", forbidden)
    monkeypatch.setattr(tasks, "fill_active_runs", forbidden)
    monkeypatch.setattr(services, "runs_tick", forbidden)


def start_run(business, count=1, concurrency=1):
    leads = make_leads(business, count)
    return services.outbound_run_start(
        business=business, selection={"lead_ids": [lead.pk for lead in leads]}, concurrency=concurrency
    )


def due_at(run) -> datetime | None:
    wakeup = RunWakeup.objects.filter(run=run).first()
    return wakeup.due_at if wakeup else None


def answer_and_end(fake, call, status="completed"):
    for step in ("in-progress", status) if status == "completed" else (status,):
        params = fake.progress(call, step)
        services.call_status_callback_record(job_id=call.job_id, claim_number=call.claim, params=params)


def assert_finished(run):
    run.refresh_from_db()
    assert run.status == OutboundCallRun.Status.SUCCEEDED
    assert not OutboundCallJob.objects.filter(run=run).exclude(status__in=OutboundCallJob.FINAL_STATUSES).exists()


@pytest.mark.django_db(transaction=True)
def test_refused_dial_is_filled_again_at_its_backoff(business, fake_twilio, clock, settings):
    settings.OUTBOUND_DIAL_BACKOFF_SECONDS = 2
    fake_twilio.queue_error(twilio_gateway.RetryableTwilioError("Too Many Requests", code=20429, http_status=429))
    run = start_run(business)
    assert fake_twilio.calls == []  # refused: requeued, slot free, nothing else active
    assert due_at(run) == START + timedelta(seconds=2)

    clock.move_to(START + timedelta(seconds=1.999))
    assert services.wakeups_fire() == []
    clock.move_to(START + timedelta(seconds=2))
    assert services.wakeups_fire() == [run.pk]
    assert len(fake_twilio.calls) == 1
    answer_and_end(fake_twilio, fake_twilio.calls[0])
    assert_finished(run)


@pytest.mark.django_db(transaction=True)
def test_busy_call_is_retried_at_its_due_time(business, fake_twilio, clock, settings):
    settings.OUTBOUND_MAX_ATTEMPTS = 2
    settings.OUTBOUND_RETRY_DELAY_SECONDS = 300
    run = start_run(business)
    clock.move_to(START + timedelta(seconds=20))
    answer_and_end(fake_twilio, fake_twilio.calls[0], status="busy")
    # The run's only call is waiting for its retry: the next fill is due exactly then, not at
    # the silent-call check the ended call had.
    assert due_at(run) == START + timedelta(seconds=320)

    clock.move_to(START + timedelta(seconds=320))
    assert services.wakeups_fire() == [run.pk]
    assert len(fake_twilio.calls) == 2
    answer_and_end(fake_twilio, fake_twilio.calls[1])
    assert_finished(run)
    assert OutboundCallJob.objects.get(run=run).attempts == 2


@pytest.mark.django_db(transaction=True)
def test_lead_outside_calling_hours_is_called_when_the_window_opens(business, fake_twilio, clock):
    CallingHours.objects.create(business=business, start=time(11, 30), end=time(20, 0))  # Asia/Jerusalem
    run = start_run(business)
    assert fake_twilio.calls == []
    opening = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # 11:30 in Jerusalem (UTC+2)
    assert due_at(run) == opening

    clock.move_to(opening)
    assert services.wakeups_fire() == [run.pk]
    assert len(fake_twilio.calls) == 1
    answer_and_end(fake_twilio, fake_twilio.calls[0])
    assert_finished(run)


@pytest.mark.django_db(transaction=True)
def test_lead_after_closing_time_waits_for_the_next_days_opening(business, fake_twilio, clock):
    CallingHours.objects.create(business=business, start=time(8, 0), end=time(9, 0))
    run = start_run(business)
    assert due_at(run) == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # 08:00 tomorrow in Jerusalem


@pytest.mark.django_db(transaction=True)
def test_call_without_callbacks_is_fetched_stuck_seconds_after_its_last_sign_of_life(
    business, fake_twilio, clock, settings
):
    settings.OUTBOUND_STUCK_CALL_SECONDS = 180
    settings.OUTBOUND_LOST_DIAL_SECONDS = 60
    run = start_run(business)
    call = fake_twilio.calls[0]
    # Dialed at START: the first look is when it would be silent for too long.
    assert due_at(run) == START + timedelta(seconds=180)
    clock.move_to(START + timedelta(seconds=30))
    params = fake_twilio.progress(call, "in-progress")
    services.call_status_callback_record(job_id=call.job_id, claim_number=call.claim, params=params)

    clock.move_to(START + timedelta(seconds=180))
    assert services.wakeups_fire() == [run.pk]
    # Nothing overdue yet: the next look is 180 s after the last callback.
    assert due_at(run) == START + timedelta(seconds=210)

    fake_twilio.progress(call, "completed")  # the final callback is lost
    clock.move_to(START + timedelta(seconds=209))
    assert services.wakeups_fire() == []
    clock.move_to(START + timedelta(seconds=210))
    assert services.wakeups_fire() == [run.pk]
    assert_finished(run)


@pytest.mark.django_db(transaction=True)
def test_run_of_several_calls_with_every_fault_finishes_on_wakeups_alone(business, fake_twilio, clock, settings):
    settings.OUTBOUND_MAX_ATTEMPTS = 2
    settings.OUTBOUND_RETRY_DELAY_SECONDS = 30
    settings.OUTBOUND_DIAL_BACKOFF_SECONDS = 2
    run = start_run(business, count=4, concurrency=2)
    first, second = fake_twilio.calls
    fake_twilio.queue_error(twilio_gateway.RetryableTwilioError("Service unavailable", code=20500, http_status=503))
    answer_and_end(fake_twilio, first, status="no-answer")  # retry in 30 s; the refill is refused
    fake_twilio.progress(second, "completed")  # its final callback is lost
    for _step in range(200):
        if OutboundCallRun.objects.get(pk=run.pk).status != OutboundCallRun.Status.RUNNING:
            break
        for open_call in fake_twilio.open_calls():
            answer_and_end(fake_twilio, open_call)
        if OutboundCallRun.objects.get(pk=run.pk).status != OutboundCallRun.Status.RUNNING:
            break
        next_due = wakeups.wakeups_next_due()
        assert next_due is not None, "a running run without a wake-up waits for the minute tick"
        clock.move_to(max(next_due, timezone.now()))
        services.wakeups_fire()
    assert_finished(run)


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_events_queues_one_fill(business, fake_twilio, settings, monkeypatch):
    run = start_run(business)
    settings.OUTBOUND_DISPATCH = "queue"
    queued = []
    monkeypatch.setattr("outbound.services.dispatch.async_task", lambda *args, **kwargs: queued.append(args))
    for _event in range(5):
        services.dispatch_fill(run.pk)
    assert queued == [("outbound.tasks.fill_slots", run.pk)]
    # Once the fill starts, the next event needs a fill of its own.
    tasks.fill_slots(run.pk)
    services.dispatch_fill(run.pk)
    assert len(queued) == 2


@pytest.mark.django_db(transaction=True)
def test_a_queued_fill_lost_with_the_broker_does_not_block_the_next(business, fake_twilio, settings, monkeypatch):
    run = start_run(business)
    settings.OUTBOUND_DISPATCH = "queue"
    queued = []
    monkeypatch.setattr("outbound.services.dispatch.async_task", lambda *args, **kwargs: queued.append(args))
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        services.dispatch_fill(run.pk)
        services.dispatch_fill(run.pk)
        assert len(queued) == 1
        traveller.shift(wakeups.FILL_QUEUED_LOST_AFTER + timedelta(seconds=1))
        services.dispatch_fill(run.pk)
    assert len(queued) == 2


@pytest.mark.django_db(transaction=True)
def test_wakeups_are_handed_out_once_and_only_when_due(business, fake_twilio, clock, settings, monkeypatch):
    run = start_run(business)
    settings.OUTBOUND_DISPATCH = "queue"
    handed = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: handed.append(args))
    wakeups.run_wakeup_arm(run_id=run.pk, at=START + timedelta(seconds=5))
    wakeups.run_wakeup_arm(run_id=run.pk, at=START + timedelta(seconds=9))  # a later one is not kept
    assert due_at(run) == START + timedelta(seconds=5)
    assert wakeups.wakeups_next_due() == START + timedelta(seconds=5)
    assert wakeups.wakeups_fire() == []
    clock.move_to(START + timedelta(seconds=5))
    assert wakeups.wakeups_fire() == [run.pk]
    assert wakeups.wakeups_fire() == []
    assert handed == [("outbound.tasks.wake_run", run.pk)]


@pytest.mark.django_db(transaction=True)
def test_callbacks_of_a_burst_queue_one_fill_after_their_commits(business, fake_twilio, settings, monkeypatch):
    from django.db import transaction

    from outbound.services import dispatch

    run = start_run(business)
    settings.OUTBOUND_DISPATCH = "queue"
    queued = []
    monkeypatch.setattr("outbound.services.dispatch.async_task", lambda *args, **kwargs: queued.append(args))
    with pytest.raises(RuntimeError), transaction.atomic():
        dispatch.dispatch_fill_on_commit(run.pk)
        raise RuntimeError("the callback's transaction fails")
    assert queued == []  # rolled back: no fill, and no mark that would hold the next one back
    with transaction.atomic():
        dispatch.dispatch_fill_on_commit(run.pk)
        assert queued == []  # queued only once the change is committed
    for _callback in range(2):
        with transaction.atomic():
            dispatch.dispatch_fill_on_commit(run.pk)
    assert queued == [("outbound.tasks.fill_slots", run.pk)]
