"""Authentication of requests Twilio makes to us (status callbacks, TwiML fetches)."""

from __future__ import annotations

import functools
import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from twilio.request_validator import RequestValidator

from callcenter.ops import logs, metrics

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "HTTP_X_TWILIO_SIGNATURE"


def signed_url(request: HttpRequest) -> str:
    """The URL Twilio signed: the public address it was given, not the host Django sees,
    which differs behind a proxy or tunnel."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path()


@functools.lru_cache(maxsize=4)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


def twilio_signature_is_valid(request: HttpRequest) -> bool:
    signature = request.META.get(SIGNATURE_HEADER, "")
    if not signature or not settings.TWILIO_AUTH_TOKEN:
        return False
    params = request.POST if request.method == "POST" else {}
    validator = _validator(settings.TWILIO_AUTH_TOKEN)
    url = signed_url(request)
    # Twilio signs the URL exactly as it was given, so one HMAC settles a genuine request;
    # only a mismatch pays for the validator's variants (with and without the port).
    if hmac.compare_digest(validator.compute_signature(url, params).encode(), signature.encode()):
        return True
    return validator.validate(url, params, signature)


def twilio_signature_required(view_func):
    """Let a request reach the view only when its X-Twilio-Signature is Twilio's signature of
    PUBLIC_BASE_URL + path + query and the POST parameters, made with TWILIO_AUTH_TOKEN.
    Anything else answers 403 before the view runs, so nothing is recorded."""

    webhook = view_func.__name__
    # This webhook's counters, looked up once (labels() takes a lock and builds a key per call).
    rejected = metrics.WEBHOOKS_REJECTED.labels(webhook=webhook)
    received = metrics.WEBHOOKS_RECEIVED.labels(webhook=webhook)
    latency = metrics.WEBHOOK_LATENCY.labels(webhook=webhook)

    @functools.wraps(view_func)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not twilio_signature_is_valid(request):
            rejected.inc()
            logger.warning("rejected Twilio webhook with a missing or invalid signature: %s", request.path)
            return HttpResponseForbidden("Invalid Twilio signature")
        received.inc()
        logs.bind_webhook_context(request)
        with latency.time():
            return view_func(request, *args, **kwargs)

    return csrf_exempt(wrapper)
