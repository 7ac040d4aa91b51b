"""Where Twilio calls in. Every view is signed (X-Twilio-Signature) and thin."""

import logging

from django import forms
from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_POST
from twilio.twiml.voice_response import VoiceResponse

from callcenter.webhook_forms import BIGINT_MAX, TwilioCallbackForm, count_field, sid_field
from callcenter.webhook_security import twilio_signature_required
from outbound import services

logger = logging.getLogger(__name__)


class CallStatusCallbackForm(TwilioCallbackForm):
    """What a status callback must look like to be applied (the callback URL carries job_id
    and claim; Twilio posts the rest). Unknown parameters pass through to the stored event."""

    job_id = forms.IntegerField(min_value=1, max_value=BIGINT_MAX)
    claim = count_field()
    CallSid = sid_field()
    CallStatus = forms.RegexField(regex=r"^[A-Za-z-]{1,20}$")
    SequenceNumber = count_field()
    CallDuration = count_field()
    AnsweredBy = forms.CharField(max_length=32, required=False)
    ErrorCode = forms.CharField(max_length=32, required=False)
    SipResponseCode = forms.CharField(max_length=32, required=False)
    ErrorMessage = forms.CharField(max_length=2000, required=False)


@require_POST
@twilio_signature_required
def call_status_webhook(request):
    form = CallStatusCallbackForm(request)
    if form.ignored(request):
        # Acknowledged all the same: an error answer would only make Twilio retry it.
        return HttpResponse(status=204)
    result = services.call_status_callback_record(
        job_id=form.cleaned_data["job_id"], claim_number=form.cleaned_data["claim"], params=request.POST.dict()
    )
    logger.debug("Status callback for call %s: %s", form.cleaned_data["job_id"], result)
    return HttpResponse(status=204)


@require_POST
@twilio_signature_required
def voice_webhook(request):
    """What the callee hears: a Dial to the agent number, or the configured Hebrew message.

    Recording, when enabled, is asked for in calls.create and covers the whole call.
    """
    response = VoiceResponse()
    if settings.OUTBOUND_AGENT_NUMBER:
        response.dial(settings.OUTBOUND_AGENT_NUMBER)
    else:
        response.say(settings.OUTBOUND_VOICE_MESSAGE, language="he-IL")
    return HttpResponse(str(response), content_type="text/xml; charset=utf-8")
