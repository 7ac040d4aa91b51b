"""Where Twilio calls in. Every view is signed (X-Twilio-Signature) and thin."""

import logging

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_POST
from twilio.twiml.voice_response import VoiceResponse

from callcenter.ops import metrics
from callcenter.webhook_security import twilio_signature_required
from outbound import services

logger = logging.getLogger(__name__)


def _query_int(request, name: str) -> int | None:
    try:
        return int(request.GET.get(name, ""))
    except ValueError:
        return None


@require_POST
@twilio_signature_required
def call_status_webhook(request):
    job_id = _query_int(request, "job_id")
    if job_id is None:
        # Acknowledged all the same: an error answer would only make Twilio retry it.
        logger.warning("Status callback without a job id: %s", request.get_full_path())
        return HttpResponse(status=204)
    result = services.call_status_callback_record(
        job_id=job_id, claim_number=_query_int(request, "claim"), params=request.POST.dict()
    )
    if result == "duplicate":
        metrics.WEBHOOKS_DUPLICATE.labels(webhook="call_status_webhook").inc()
    logger.debug("Status callback for call %s: %s", job_id, result)
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
    return HttpResponse(str(response), content_type="text/xml")
