"""Calling hours in each lead's own time zone, with a frozen clock."""

from datetime import UTC, datetime, time

import pytest
import time_machine
from django.utils import timezone

from leads.models import Lead
from leads.services import lead_create, lead_update
from outbound import selectors, services
from outbound.models import CallingHours, OutboundCallJob, OutboundCallRun
from outbound.services.calling_hours import CallingWindow

CallStatus = OutboundCallJob.Status
# Three valid numbers per zone: Israel (the business's zone too), New York, London, Sydney.
NUMBERS = {
    "Asia/Jerusalem": ["+972507654321", "+972526000001", "+972526000002"],
    "America/New_York": ["+12127360100", "+12127360101", "+12127360102"],
    "Europe/London": ["+442079460100", "+442079460101", "+442079460102"],
    "Australia/Sydney": ["+61293744000", "+61293744001", "+61293744002"],
}
# 12:00 UTC: 14:00 in Israel and 12:00 in London (inside 09:00-20:00), 07:00 in New York
# (opens at 14:00 UTC) and 23:00 in Sydney (opens at 22:00 UTC).
NOON_UTC = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NEW_YORK_OPENS = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
SYDNEY_OPENS = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


def test_window_contains_and_next_open_in_the_zone():
    window = CallingWindow(start=time(9), end=time(20))
    assert window.contains(time_zone="Europe/London", at=NOON_UTC)
    assert not window.contains(time_zone="America/New_York", at=NOON_UTC)
    assert window.next_open(time_zone="America/New_York", at=NOON_UTC) == NEW_YORK_OPENS
    assert window.next_open(time_zone="Australia/Sydney", at=NOON_UTC) == SYDNEY_OPENS
    assert window.next_open(time_zone="Europe/London", at=NOON_UTC) == NOON_UTC
    overnight = CallingWindow(start=time(22), end=time(6))
    assert overnight.contains(time_zone="UTC", at=datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    assert overnight.next_open(time_zone="UTC", at=NOON_UTC) == datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_leads_take_their_number_s_zone_on_create_and_phone_change(business):
    business.time_zone = "Asia/Jerusalem"
    business.save()
    lead = lead_create(business=business, phone="+12127360100")
    assert lead.time_zone == "America/New_York"
    lead = lead_update(business=business, lead_id=lead.pk, phone="+442079460100")
    assert Lead.objects.get(pk=lead.pk).time_zone == "Europe/London"
    # A mobile of a country spanning several zones: the business's zone.
    assert lead_create(business=business, phone="+61412345678").time_zone == "Asia/Jerusalem"


def assert_slots_sound(run) -> None:
    """The cap holds, and no slot is idle while an in-window lead is due."""
    active = OutboundCallJob.objects.filter(run=run, status__in=OutboundCallJob.ACTIVE_STATUSES).count()
    assert active <= 3
    if active < 3:
        due = OutboundCallJob.objects.filter(run=run, status=CallStatus.QUEUED, next_attempt_at__lte=timezone.now())
        assert not due.exists(), "a slot sits idle while a lead is due"


def finish_open_calls(fake, run) -> None:
    for call in fake.open_calls():
        services.call_status_callback_record(
            job_id=call.job_id, claim_number=call.claim, params=fake.progress(call, "completed")
        )
        assert_slots_sound(run)


def dialed_zones(fake, since: int = 0) -> list[str]:
    zone_of = {phone: zone for zone, phones in NUMBERS.items() for phone in phones}
    return [zone_of[call.to] for call in fake.calls[since:]]


@pytest.mark.django_db(transaction=True)
def test_only_leads_inside_their_local_window_are_dialed_the_others_when_it_opens(business, fake_twilio, settings):
    settings.OUTBOUND_CALLING_HOURS_START, settings.OUTBOUND_CALLING_HOURS_END = "09:00", "20:00"
    business.time_zone = "Asia/Jerusalem"
    business.save()
    leads = [lead_create(business=business, phone=phone) for phones in NUMBERS.values() for phone in phones]
    assert {lead.time_zone for lead in leads} == set(NUMBERS)
    with time_machine.travel(NOON_UTC, tick=False) as clock:
        run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
        assert_slots_sound(run)
        while fake_twilio.open_calls():
            finish_open_calls(fake_twilio, run)
        assert sorted(dialed_zones(fake_twilio)) == sorted(["Asia/Jerusalem"] * 3 + ["Europe/London"] * 3)

        # Every remaining lead is outside its window: the run waits, visibly, without slots.
        services.runs_tick()
        run.refresh_from_db()
        progress = selectors.run_progress(run=run)
        assert run.status == OutboundCallRun.Status.RUNNING
        assert (progress["queued"], progress["in_progress"]) == (6, 0)
        assert progress["waiting_for_calling_hours"] is True and progress["next_call_at"] == NEW_YORK_OPENS
        assert selectors.run_next_call_at(run_id=run.pk) == NEW_YORK_OPENS

        clock.move_to(NEW_YORK_OPENS)
        services.runs_tick()  # the safety tick: no staff action
        assert dialed_zones(fake_twilio, 6) == ["America/New_York"] * 3
        while fake_twilio.open_calls():
            finish_open_calls(fake_twilio, run)
        services.runs_tick()
        assert len(fake_twilio.calls) == 9

        clock.move_to(SYDNEY_OPENS)
        services.runs_tick()
        assert dialed_zones(fake_twilio, 9) == ["Australia/Sydney"] * 3
        while fake_twilio.open_calls():
            finish_open_calls(fake_twilio, run)
        run.refresh_from_db()
        assert run.status == OutboundCallRun.Status.SUCCEEDED
        assert fake_twilio.max_open <= 3
        assert len(fake_twilio.calls) == 12 and len({call.to for call in fake_twilio.calls}) == 12


@pytest.mark.django_db(transaction=True)
def test_changed_hours_apply_at_once_to_calls_waiting_for_the_old_ones(business, fake_twilio, settings):
    settings.OUTBOUND_MAX_ATTEMPTS = 2
    settings.OUTBOUND_RETRY_DELAY_SECONDS = 3600
    business.time_zone = "America/New_York"
    business.save()
    hours = CallingHours.objects.create(business=business, start=time(10), end=time(18))
    in_london = lead_create(business=business, phone="+442079460100")  # 14:00 there: inside
    in_new_york = [lead_create(business=business, phone=phone) for phone in NUMBERS["America/New_York"][:2]]
    with time_machine.travel(datetime(2026, 11, 30, 14, 0, tzinfo=UTC), tick=False):  # 09:00 in New York
        run = services.outbound_run_start(
            business=business, selection={"lead_ids": [in_london.pk, *(lead.pk for lead in in_new_york)]}
        )
        assert [call.to for call in fake_twilio.calls] == [in_london.phone]
        busy = fake_twilio.calls[0]
        services.call_status_callback_record(
            job_id=busy.job_id, claim_number=busy.claim, params=fake_twilio.progress(busy, "busy")
        )  # queued for its retry in an hour: not waiting for hours
        hours.start = time(8)
        hours.save()
        assert services.calling_hours_changed(business=business) == 1
        assert sorted(call.to for call in fake_twilio.calls[1:]) == sorted(lead.phone for lead in in_new_york)
        retry = OutboundCallJob.objects.get(run=run, lead=in_london)
        assert retry.status == CallStatus.QUEUED and retry.next_attempt_at > timezone.now()
