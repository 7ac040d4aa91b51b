"""Twilio's callbacks through the real views: signatures, idempotence, order, TwiML."""

import pytest
from django.conf import settings
from twilio.request_validator import RequestValidator

from outbound import services
from outbound.models import CallEvent, OutboundCallJob
from tests.plugins.outbound import make_leads

CallStatus = OutboundCallJob.Status


def signed_post(client, path: str, params: dict, *, token: str | None = None):
    url = settings.PUBLIC_BASE_URL + path
    signature = RequestValidator(token or settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def status_path(call) -> str:
    return f"/webhooks/twilio/call-status?job_id={call.job_id}&claim={call.claim}"


@pytest.fixture
def run_of_four(business, fake_twilio):
    leads = make_leads(business, 4)
    return services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})


@pytest.mark.django_db(transaction=True)
def test_forged_callback_is_refused_and_changes_nothing(client, fake_twilio, run_of_four):
    call = fake_twilio.calls[0]
    params = fake_twilio.progress(call, "completed")
    forged = signed_post(client, status_path(call), params, token="not-the-auth-token")
    unsigned = client.post(status_path(call), params)
    assert forged.status_code == 403 and unsigned.status_code == 403
    job = OutboundCallJob.objects.get(pk=call.job_id)
    assert job.status == CallStatus.DIALING and job.slot is not None
    assert CallEvent.objects.count() == 0 and len(fake_twilio.calls) == 3


@pytest.mark.django_db(transaction=True)
def test_signed_final_callback_frees_the_slot_and_dials_the_next_lead(client, fake_twilio, run_of_four):
    call = fake_twilio.calls[0]
    assert signed_post(client, status_path(call), fake_twilio.progress(call, "in-progress")).status_code == 204
    assert OutboundCallJob.objects.get(pk=call.job_id).status == CallStatus.CALLING
    final = fake_twilio.progress(call, "completed")
    assert signed_post(client, status_path(call), final).status_code == 204
    job = OutboundCallJob.objects.get(pk=call.job_id)
    assert (job.status, job.outcome, job.slot, job.duration_seconds) == (CallStatus.COMPLETED, "answered", None, 5)
    assert len(fake_twilio.calls) == 4


@pytest.mark.django_db(transaction=True)
def test_duplicates_and_late_callbacks_change_nothing(client, fake_twilio, run_of_four):
    call = fake_twilio.calls[0]
    ringing = fake_twilio.progress(call, "ringing")
    answered = fake_twilio.progress(call, "in-progress")
    completed = fake_twilio.progress(call, "completed")
    for params in (completed, completed, answered, ringing, completed):
        assert signed_post(client, status_path(call), params).status_code == 204
    job = OutboundCallJob.objects.get(pk=call.job_id)
    assert job.status == CallStatus.COMPLETED and job.last_sequence_number == 2
    assert CallEvent.objects.filter(call_sid=call.sid).count() == 3
    assert len(fake_twilio.calls) == 4  # one release, one next call


@pytest.mark.django_db(transaction=True)
def test_callback_before_calls_create_returned_is_applied(client, fake_twilio, run_of_four):
    call = fake_twilio.calls[0]
    OutboundCallJob.objects.filter(pk=call.job_id).update(call_sid=None)
    signed_post(client, status_path(call), fake_twilio.progress(call, "in-progress"))
    job = OutboundCallJob.objects.get(pk=call.job_id)
    assert job.call_sid == call.sid and job.status == CallStatus.CALLING


@pytest.mark.django_db(transaction=True)
def test_callback_of_an_earlier_attempt_is_ignored(client, fake_twilio, run_of_four):
    call = fake_twilio.calls[0]
    stale_path = f"/webhooks/twilio/call-status?job_id={call.job_id}&claim={call.claim + 1}"
    signed_post(client, stale_path, fake_twilio.progress(call, "completed"))
    assert OutboundCallJob.objects.get(pk=call.job_id).status == CallStatus.DIALING


@pytest.mark.django_db(transaction=True)
def test_machine_answer_is_recorded_as_machine(client, fake_twilio, run_of_four):
    call = fake_twilio.calls[1]
    signed_post(client, status_path(call), fake_twilio.progress(call, "in-progress", answered_by="machine_start"))
    signed_post(client, status_path(call), fake_twilio.progress(call, "completed"))
    assert OutboundCallJob.objects.get(pk=call.job_id).outcome == "machine"


@pytest.mark.django_db(transaction=True)
def test_unknown_job_is_acknowledged(client, fake_twilio):
    params = {"CallSid": "CAunknown", "CallStatus": "completed", "SequenceNumber": "3"}
    assert signed_post(client, "/webhooks/twilio/call-status?job_id=999999", params).status_code == 204
    assert signed_post(client, "/webhooks/twilio/call-status?job_id=abc", params).status_code == 204


@pytest.mark.django_db(transaction=True)
def test_voice_webhook_says_the_hebrew_message_or_dials_the_agent(client, fake_twilio, settings):
    settings.OUTBOUND_VOICE_MESSAGE = "שלום וברכה"
    response = signed_post(client, "/webhooks/twilio/voice?job_id=1&claim=1", {"CallSid": "CA1"})
    body = response.content.decode()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    assert '<Say language="he-IL">שלום וברכה</Say>' in body
    settings.OUTBOUND_AGENT_NUMBER = "+972501234567"
    body = signed_post(client, "/webhooks/twilio/voice?job_id=1&claim=1", {"CallSid": "CA1"}).content.decode()
    assert "<Dial>+972501234567</Dial>" in body
    assert client.post("/webhooks/twilio/voice?job_id=1", {"CallSid": "CA1"}).status_code == 403
