"""Where Twilio tells us about recordings. The signed URL names the business
(`?business_id=`), so the signature protects it."""

import logging

from django import forms
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from callcenter.errors import ApplicationError, ServiceUnavailable
from callcenter.models import Business
from callcenter.webhook_forms import BIGINT_MAX, TwilioCallbackForm, count_field, sid_field
from callcenter.webhook_security import twilio_signature_required
from recordings import services

logger = logging.getLogger(__name__)


class RecordingStatusCallbackForm(TwilioCallbackForm):
    business_id = forms.IntegerField(min_value=1, max_value=BIGINT_MAX)
    CallSid = sid_field()
    RecordingSid = sid_field()
    RecordingStatus = forms.RegexField(regex=r"^[A-Za-z-]{1,20}$", required=False)
    RecordingDuration = count_field()


@twilio_signature_required
@require_POST
def recording_status_webhook(request: HttpRequest) -> HttpResponse:
    # Malformed or for an unknown business: acknowledged and ignored (a retry would not fix it).
    form = RecordingStatusCallbackForm(request)
    if form.ignored(request):
        return HttpResponse(status=204)
    business = Business.objects.filter(pk=form.cleaned_data["business_id"]).first()
    if business is None:
        logger.warning("ignored a recording callback for unknown business %s", form.cleaned_data["business_id"])
        return HttpResponse(status=204)
    call_sid = form.cleaned_data["CallSid"]
    recording_sid = form.cleaned_data["RecordingSid"]
    recording_status = form.cleaned_data["RecordingStatus"] or "completed"
    if recording_status == "absent":
        services.recording_mark_absent(business=business, call_sid=call_sid, recording_sid=recording_sid)
        return HttpResponse(status=204)
    if recording_status != "completed":
        # in-progress: nothing to fetch yet; it is announced again once completed.
        logger.info("Recording %s of call %s is %s; nothing to download", recording_sid, call_sid, recording_status)
        return HttpResponse(status=204)
    try:
        services.recording_register(
            business=business,
            call_sid=call_sid,
            recording_sid=recording_sid,
            duration_seconds=form.cleaned_data["RecordingDuration"],
        )
    except ServiceUnavailable as error:
        # A download job could not be created: Twilio retries a failed callback, and that
        # is exactly what is wanted.
        logger.error("Could not register recording %s of call %s: %s", recording_sid, call_sid, error)
        return HttpResponse(status=503)
    except ApplicationError as error:
        # Final for this recording (e.g. too many failed downloads): a retry changes nothing.
        logger.warning("Recording %s of call %s not registered: %s", recording_sid, call_sid, error)
    return HttpResponse(status=204)
