"""Where Twilio calls in. Every view is signed (X-Twilio-Signature) and thin."""

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from twilio.twiml.voice_response import VoiceResponse

from callcenter import twilio_gateway
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
    """What the callee hears: a Dial to the agent number, or the configured Hebrew message
    followed by the opt-out offer (OUTBOUND_OPT_OUT_DIGIT), inside a one-key Gather whose
    action is the signed gather webhook of this call and claim.

    Recording, when enabled, is asked for in calls.create and covers the whole call.
    """
    response = VoiceResponse()
    digit = settings.OUTBOUND_OPT_OUT_DIGIT
    if settings.OUTBOUND_AGENT_NUMBER:
        response.dial(settings.OUTBOUND_AGENT_NUMBER)
    elif digit:
        query = urlencode({"job_id": request.GET.get("job_id", ""), "claim": request.GET.get("claim", "")})
        gather = response.gather(
            num_digits=1, action=twilio_gateway.public_url(f"/webhooks/twilio/gather?{query}"), method="POST"
        )
        gather.say(settings.OUTBOUND_VOICE_MESSAGE, language="he-IL")
        with translation.override(settings.LANGUAGE_CODE):
            offer = _("To stop receiving calls from us, press %(digit)s.") % {"digit": digit}
        gather.say(offer, language="he-IL")
    else:
        response.say(settings.OUTBOUND_VOICE_MESSAGE, language="he-IL")
    return HttpResponse(str(response), content_type="text/xml; charset=utf-8")


@require_POST
@twilio_signature_required
def gather_webhook(request):
    """The key the callee pressed. The opt-out key puts the number on the do-not-call list
    and answers a short Hebrew confirmation; any other key just ends the call."""
    response = VoiceResponse()
    job_id = _query_int(request, "job_id")
    pressed = (request.POST.get("Digits") or "").strip()
    digit = settings.OUTBOUND_OPT_OUT_DIGIT
    if job_id is not None and digit and pressed == digit:
        if services.call_opt_out_record(job_id=job_id, claim_number=_query_int(request, "claim")):
            with translation.override(settings.LANGUAGE_CODE):
                confirmation = _("Your number has been removed from our call list. Goodbye.")
            response.say(confirmation, language="he-IL")
        else:
            logger.warning("Opt-out key pressed for unknown call job %s", job_id)
    response.hangup()
    return HttpResponse(str(response), content_type="text/xml; charset=utf-8")
