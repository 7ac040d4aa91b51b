"""A test-only URLconf: one signature-protected view that records what reaches it."""

from django.http import HttpResponse
from django.urls import path

from callcenter.webhook_security import twilio_signature_required

received = []


@twilio_signature_required
def status_callback(request):
    received.append(dict(request.POST.items()))
    return HttpResponse(status=204)


@twilio_signature_required
def twiml(request):
    return HttpResponse('<?xml version="1.0"?><Response><Say>hi</Say></Response>', content_type="application/xml")


urlpatterns = [
    path("hooks/status", status_callback),
    path("hooks/twiml", twiml),
]
