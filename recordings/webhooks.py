"""Where Twilio tells us about recordings. The signed URL names the business
(`?business_id=`), so the signature protects it."""

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.http import require_POST

from callcenter.errors import ApplicationError
from callcenter.models import Business
from callcenter.webhook_security import twilio_signature_required
from recordings import services

logger = logging.getLogger(__name__)


def _positive_int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@twilio_signature_required
@require_POST
def recording_status_webhook(request: HttpRequest) -> HttpResponse:
    business = Business.objects.filter(pk=_positive_int(request.GET.get("business_id"))).first()
    call_sid = request.POST.get("CallSid", "").strip()
    recording_sid = request.POST.get("RecordingSid", "").strip()
    if business is None or not call_sid or not recording_sid:
        return HttpResponseBadRequest("business_id, CallSid and RecordingSid are required")
    recording_status = request.POST.get("RecordingStatus", "completed")
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
            duration_seconds=_positive_int(request.POST.get("RecordingDuration")),
        )
    except ApplicationError as error:
        # Twilio retries a failed callback: a 500 here asks for exactly that.
        logger.error("Could not register recording %s of call %s: %s", recording_sid, call_sid, error)
        return HttpResponse(status=500)
    return HttpResponse(status=204)
