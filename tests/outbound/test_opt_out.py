"""Opt-out by keypress: the Gather TwiML, the signed gather webhook, the do-not-call list."""

import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest

from leads.models import DoNotCallNumber, Lead
from outbound import services
from outbound.models import CallAttempt, OutboundCallJob
from tests.outbound.test_webhooks import signed_post
from tests.plugins.outbound import drive_until_finished, make_leads

CallStatus = OutboundCallJob.Status


def voice_twiml(client, call) -> ET.Element:
    response = signed_post(client, f"/webhooks/twilio/voice?job_id={call.job_id}&claim={call.claim}", {})
    assert response.status_code == 200
    return ET.fromstring(response.content)  # noqa: S314 - our own TwiML


def gather_path(twiml: ET.Element) -> str:
    action = urlsplit(twiml.find("Gather").get("action"))
    return f"{action.path}?{action.query}"


@pytest.mark.django_db(transaction=True)
def test_message_is_wrapped_in_a_one_key_gather_naming_the_digit(client, business, fake_twilio, settings):
    settings.OUTBOUND_OPT_OUT_DIGIT = "9"
    make_leads(business, 1)
    services.outbound_run_start(
        business=business, selection={"lead_ids": list(Lead.objects.values_list("pk", flat=True))}
    )
    twiml = voice_twiml(client, fake_twilio.calls[0])
    gather = twiml.find("Gather")
    assert gather.get("numDigits") == "1" and gather.get("method") == "POST"
    assert gather.get("action").startswith(settings.PUBLIC_BASE_URL + "/webhooks/twilio/gather?")
    says = [say.text for say in gather.findall("Say")]
    assert says[0] == settings.OUTBOUND_VOICE_MESSAGE
    assert "9" in says[1] and "הקישו" in says[1]  # the Hebrew offer names the digit
    assert all(say.get("language") == "he-IL" for say in gather.findall("Say"))

    settings.OUTBOUND_OPT_OUT_DIGIT = ""
    assert voice_twiml(client, fake_twilio.calls[0]).find("Gather") is None
    settings.OUTBOUND_AGENT_NUMBER = "+972501112233"
    settings.OUTBOUND_OPT_OUT_DIGIT = "9"
    twiml = voice_twiml(client, fake_twilio.calls[0])
    assert twiml.find("Gather") is None and twiml.find("Dial").text == "+972501112233"


@pytest.mark.django_db(transaction=True)
def test_pressing_the_digit_opts_out_and_no_later_run_dials_the_number(client, business, fake_twilio, settings):
    """The keypress as the simulator or Twilio would send it: a signed POST of Digits to the
    Gather action, during the call; then the call's final status callback."""
    settings.OUTBOUND_OPT_OUT_DIGIT = "9"
    leads = make_leads(business, 3)
    services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    opting, staying = fake_twilio.calls[0], fake_twilio.calls[1]
    for call in (opting, staying):
        services.call_status_callback_record(
            job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "in-progress")
        )
    path = gather_path(voice_twiml(client, opting))

    forged = signed_post(client, path, {"CallSid": opting.sid, "Digits": "9"}, token="not-the-auth-token")
    assert forged.status_code == 403 and not DoNotCallNumber.objects.exists()
    other_key = signed_post(client, gather_path(voice_twiml(client, staying)), {"CallSid": staying.sid, "Digits": "1"})
    assert other_key.status_code == 200 and not DoNotCallNumber.objects.exists()

    answer = signed_post(client, path, {"CallSid": opting.sid, "Digits": "9"})
    assert answer.status_code == 200
    twiml = ET.fromstring(answer.content)  # noqa: S314 - our own TwiML
    assert "הוסר" in twiml.find("Say").text and twiml.find("Hangup") is not None
    listed = DoNotCallNumber.objects.get()
    assert (listed.business_id, listed.phone, listed.source) == (business.pk, opting.to, "keypress")

    for call in (opting, staying):
        services.call_status_callback_record(
            job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "completed")
        )
    opted = OutboundCallJob.objects.get(pk=opting.job_id)
    assert (opted.status, opted.outcome) == (CallStatus.COMPLETED, "opted_out")
    assert CallAttempt.objects.get(call=opted).outcome == "opted_out"
    assert OutboundCallJob.objects.get(pk=staying.job_id).outcome == "answered"
    lead = Lead.objects.get(phone=opting.to)
    assert lead.last_outcome == "opted_out"

    # Pressing again (Twilio retrying the action) keeps one row.
    assert signed_post(client, path, {"CallSid": opting.sid, "Digits": "9"}).status_code == 200
    assert DoNotCallNumber.objects.count() == 1

    for call in fake_twilio.open_calls():
        services.call_status_callback_record(
            job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "completed")
        )
    dialed_before = len(fake_twilio.calls)
    second = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    dialed = [call.to for call in fake_twilio.calls[dialed_before:]]
    assert opting.to not in dialed and len(dialed) == 2
    skipped = OutboundCallJob.objects.get(run=second, phone=opting.to)
    assert (skipped.status, skipped.outcome) == (CallStatus.SKIPPED, "do_not_call")


@pytest.mark.django_db(transaction=True)
def test_a_number_listed_while_its_retry_waits_is_never_dialed_by_the_run_in_progress(business, fake_twilio, settings):
    settings.OUTBOUND_MAX_ATTEMPTS = 2
    settings.OUTBOUND_RETRY_DELAY_SECONDS = 0
    lead = make_leads(business, 1)[0]
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk]})
    call = fake_twilio.calls[0]
    DoNotCallNumber.objects.create(business=business, phone=lead.phone)  # e.g. opted out another way meanwhile
    services.call_status_callback_record(
        job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "busy")
    )
    services.run_fill_slots(run_id=run.pk)
    assert len(fake_twilio.calls) == 1
    job = OutboundCallJob.objects.get(run=run)
    assert (job.status, job.outcome) == (CallStatus.SKIPPED, "do_not_call")


@pytest.mark.django_db(transaction=True)
# Calls talk 1 s of real time: long enough for our TwiML to reach the simulator before the
# callee would hang up by itself, on a busy machine too.
@pytest.mark.twilio_sim(time_scale=100, seed=21, outcomes={"completed": 1, "keypress": 1}, talk_seconds=100)
def test_simulator_callees_press_nine_and_a_second_run_dials_none_of_them(business, wired, settings):
    """End to end: the simulator fetches our TwiML, presses 9 at the Gather for some answered
    calls and posts the signed Digits to its action; the numbers are listed at once."""
    settings.OUTBOUND_OPT_OUT_DIGIT = "9"
    leads = make_leads(business, 12)
    phones = {lead.phone for lead in leads}
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    run = drive_until_finished(run, timeout=60)
    assert run.status == "succeeded", run.message

    pressed = {call["to"] for call in wired.calls() if call["to"] in phones and call["pressed_digits"] == "9"}
    assert 0 < len(pressed) < len(phones)
    listed = set(DoNotCallNumber.objects.filter(business=business).values_list("phone", flat=True))
    assert listed == pressed
    opted = OutboundCallJob.objects.filter(run=run, outcome="opted_out")
    assert set(opted.values_list("phone", flat=True)) == pressed
    assert set(CallAttempt.objects.filter(run=run, phone__in=pressed).values_list("outcome", flat=True)) == {
        "opted_out"
    }
    assert set(Lead.objects.filter(phone__in=pressed).values_list("last_outcome", flat=True)) == {"opted_out"}

    placed = len(wired.calls())
    second = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    second = drive_until_finished(second, timeout=60)
    dialed_again = {call["to"] for call in wired.calls()[placed:]}
    assert dialed_again == phones - pressed
    skipped = OutboundCallJob.objects.filter(run=second, status=CallStatus.SKIPPED, outcome="do_not_call")
    assert set(skipped.values_list("phone", flat=True)) == pressed
