"""X-Twilio-Signature checking by the webhook decorator."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from twilio.request_validator import RequestValidator

from callcenter.webhook_security import twilio_signature_required

TOKEN = "webhook-test-token-0123456789abcd"
PATH = "/webhooks/twilio/call-status?job_id=42"
PARAMS = {"CallSid": "CA" + "1" * 32, "CallStatus": "completed", "SequenceNumber": "3"}

seen_requests = []


@twilio_signature_required
def status_view(request):
    seen_requests.append(dict(request.POST.items()))
    return HttpResponse("ok")


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = "https://calls.example.com"
    seen_requests.clear()


def _sign(url, params, token=TOKEN):
    return RequestValidator(token).compute_signature(url, params)


def _post(params, signature=None, path=PATH):
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature is not None else {}
    # The request reaches Django as http://testserver/..., as it would behind a proxy.
    return status_view(RequestFactory().post(path, data=params, **headers))


def test_genuine_signature_over_public_url_is_accepted_behind_a_proxy():
    response = _post(PARAMS, _sign("https://calls.example.com" + PATH, PARAMS))

    assert response.status_code == 200
    assert seen_requests == [PARAMS]


def test_signature_over_the_internal_host_is_rejected():
    response = _post(PARAMS, _sign("http://testserver" + PATH, PARAMS))

    assert response.status_code == 403
    assert seen_requests == []


def test_missing_signature_is_rejected():
    assert _post(PARAMS).status_code == 403
    assert _post(PARAMS, "").status_code == 403
    assert seen_requests == []


def test_signature_made_with_another_token_is_rejected():
    response = _post(PARAMS, _sign("https://calls.example.com" + PATH, PARAMS, token="another-accounts-token"))

    assert response.status_code == 403
    assert seen_requests == []


def test_tampered_parameter_is_rejected():
    signature = _sign("https://calls.example.com" + PATH, PARAMS)

    assert _post({**PARAMS, "CallStatus": "busy"}, signature).status_code == 403
    assert _post(PARAMS, signature, path="/webhooks/twilio/call-status?job_id=43").status_code == 403
    assert seen_requests == []


def test_no_auth_token_configured_rejects_everything(settings):
    settings.TWILIO_AUTH_TOKEN = ""

    assert _post(PARAMS, _sign("https://calls.example.com" + PATH, PARAMS, token="")).status_code == 403


def test_decorated_view_is_csrf_exempt():
    assert status_view.csrf_exempt is True
