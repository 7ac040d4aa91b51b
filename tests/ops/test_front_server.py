"""Production layout end to end: Debian's nginx with the shipped site file (TLS, proxy
headers, upload limit, internal media location) in front of gunicorn on the test database."""

import http.client
import ssl

import pytest
import requests
from django.contrib.auth import get_user_model
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token
from twilio.request_validator import RequestValidator

from callcenter.models import Business, Membership
from tests.plugins.front import (
    FrontLayout,
    Nginx,
    deployed_gunicorn,
    render_site_in_front_of,
    site_setting,
    wait_until_answers,
)
from tests.plugins.recordings import recording_create, recording_store, wav_bytes

AUTH_TOKEN = "front-server-test-auth-token"


def member_token(business: Business, username: str) -> str:
    user = get_user_model().objects.create(username=username)
    Membership.objects.create(user=user, business=business)
    return Token.objects.create(user=user).key


@pytest.fixture
def front(tmp_path, settings):
    """nginx on https://localhost:<port> in front of gunicorn; yields what the tests need."""
    layout = FrontLayout.create(tmp_path)
    settings.MEDIA_ROOT = layout.media_root
    public_base_url = layout.url
    gunicorn = deployed_gunicorn(
        layout,
        env={
            "PUBLIC_BASE_URL": public_base_url,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        },
    )
    nginx_dir, site = render_site_in_front_of(gunicorn, layout)
    nginx = Nginx(directory=nginx_dir, site=site)
    try:
        wait_until_answers(f"{public_base_url}/healthz", process=nginx.process, verify=str(layout.cert))
        session = requests.Session()
        session.verify = str(layout.cert)
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        yield {
            "url": public_base_url,
            "session": session,
            "gunicorn": gunicorn,
            "nginx": nginx,
            "port": layout.https_port,
            "cert": layout.cert,
            "media_root": layout.media_root,
        }
    finally:
        nginx.stop()
        gunicorn.stop()


def twilio_post(front, path: str, params: dict, *, signature: str | None = None) -> requests.Response:
    url = front["url"] + path
    signature = signature or RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    return front["session"].post(url, data=params, headers={"X-Twilio-Signature": signature})


@pytest.mark.django_db(transaction=True)
def test_signed_webhooks_verify_behind_nginx_and_forged_ones_do_not(front):
    params = {"CallSid": "CA" + "a" * 32, "CallStatus": "in-progress", "AccountSid": "AC" + "0" * 32}
    answer = twilio_post(front, "/webhooks/twilio/voice?job_id=1&claim=1", params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Server"].startswith("nginx")
    assert "<Response>" in answer.text
    forged = twilio_post(front, "/webhooks/twilio/voice?job_id=1&claim=1", params, signature="Zm9yZ2Vk")
    assert forged.status_code == 403
    # Signed for another query string than the one sent: refused too.
    url = front["url"] + "/webhooks/twilio/voice?job_id=2&claim=1"
    other = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    assert twilio_post(front, "/webhooks/twilio/voice?job_id=1&claim=1", params, signature=other).status_code == 403
    for _ in range(4):
        assert twilio_post(front, "/webhooks/twilio/voice?job_id=1&claim=1", params).status_code == 200

    # Scraped through nginx from this host: the sum over both gunicorn workers.
    metrics = front["session"].get(front["url"] + "/metrics")
    assert metrics.status_code == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.text)
        for sample in family.samples
    }
    assert samples[("callcenter_webhooks_received_total", (("webhook", "voice_webhook"),))] == 5
    assert samples[("callcenter_webhooks_rejected_total", (("webhook", "voice_webhook"),))] == 2
    assert samples[("callcenter_state_collector_up", ())] == 1


@pytest.mark.django_db(transaction=True)
def test_recording_ranges_go_out_through_x_accel_redirect_with_django_headers(front):
    business, other = Business.objects.create(name="front"), Business.objects.create(name="other")
    token, other_token = member_token(business, "front-member"), member_token(other, "other-member")
    audio = wav_bytes(seconds=4.0)
    recording = recording_store(recording_create(business=business), audio)
    url = f"{front['url']}/api/recordings/file/{recording.call_sid}"
    session = front["session"]
    auth = {"Authorization": f"Token {token}"}

    part = session.get(url, headers={**auth, "Range": "bytes=1000-1999"})
    assert part.status_code == 206, part.text
    assert part.content == audio[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(audio)}"
    assert part.headers["Content-Length"] == "1000"
    assert part.headers["ETag"] == recording.etag
    assert part.headers["Content-Type"] == "audio/wav"
    assert part.headers["Cache-Control"] == "private, no-cache"
    assert part.headers["Accept-Ranges"] == "bytes"
    assert part.headers["Content-Disposition"] == f'inline; filename="{recording.call_sid}.wav"'
    assert "X-Accel-Redirect" not in part.headers
    assert part.headers["X-Request-ID"] and "," not in part.headers["X-Request-ID"]

    # Straight from gunicorn: no bytes at all, only the redirect nginx acted on above.
    direct = requests.get(
        f"{front['gunicorn'].url}/api/recordings/file/{recording.call_sid}",
        headers={**auth, "Range": "bytes=1000-1999", "Host": "localhost"},
        timeout=30,
    )
    assert direct.headers["X-Accel-Redirect"] == f"/_protected_media/{recording.file.name}"
    assert direct.content == b""
    assert part.headers["Last-Modified"] == direct.headers["Last-Modified"]

    whole = session.get(url, headers=auth)
    assert whole.status_code == 200 and whole.content == audio
    assert whole.headers["ETag"] == recording.etag
    tail = session.get(url, headers={**auth, "Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == audio[-500:]
    # Same answers as Django's own streaming: 304, If-Range, several ranges, past the end.
    assert session.get(url, headers={**auth, "If-None-Match": recording.etag}).status_code == 304
    matching = session.get(url, headers={**auth, "Range": "bytes=0-9", "If-Range": recording.etag})
    assert matching.status_code == 206 and matching.content == audio[:10]
    outdated = session.get(url, headers={**auth, "Range": "bytes=0-9", "If-Range": '"old"'})
    assert outdated.status_code == 200 and outdated.content == audio
    dated = session.get(url, headers={**auth, "Range": "bytes=0-9", "If-Range": direct.headers["Last-Modified"]})
    assert dated.status_code == 200 and dated.content == audio  # Django compares If-Range with the ETag only
    for ignored in ("bytes=0-1,5-6", "bytes=9-3", "items=0-1"):
        whole = session.get(url, headers={**auth, "Range": ignored})
        assert whole.status_code == 200 and whole.content == audio, ignored
    past = session.get(url, headers={**auth, "Range": f"bytes={len(audio)}-"})
    assert past.status_code == 416

    # Another business: 404, and the internal location is not reachable from outside.
    assert session.get(url, headers={"Authorization": f"Token {other_token}", "Range": "bytes=0-9"}).status_code == 404
    assert session.get(f"{front['url']}/_protected_media/{recording.file.name}").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_signed_url_from_prepare_plays_through_nginx_without_credentials(front):
    business, other = Business.objects.create(name="signed"), Business.objects.create(name="other")
    token = member_token(business, "signed-member")
    audio = wav_bytes(seconds=4.0)
    recording = recording_store(recording_create(business=business), audio)
    foreign = recording_store(recording_create(business=other, call_sid="CA" + "9" * 32), audio)
    session = front["session"]
    prepared = session.post(
        f"{front['url']}/api/recordings/{recording.call_sid}/prepare", headers={"Authorization": f"Token {token}"}
    )
    assert prepared.status_code == 200, prepared.text
    url = front["url"] + prepared.json()["url"]
    anonymous = requests.Session()
    anonymous.verify, anonymous.trust_env = str(front["cert"]), False

    part = anonymous.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206, part.text
    assert part.content == audio[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(audio)}"
    assert part.headers["ETag"] == recording.etag
    assert part.headers["Content-Type"] == "audio/wav"
    assert part.headers["Cache-Control"] == "private, no-cache"
    assert "X-Accel-Redirect" not in part.headers
    assert anonymous.get(url).content == audio
    assert anonymous.get(url, headers={"If-None-Match": recording.etag}).status_code == 304
    outdated = anonymous.get(url, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert outdated.status_code == 200 and outdated.content == audio
    assert anonymous.get(url, headers={"Range": f"bytes={len(audio)}-"}).status_code == 416

    # The signature covers the business and the call: neither can be swapped for another's.
    query = url.split("?", 1)[1]
    swapped_call = anonymous.get(f"{front['url']}/api/recordings/file/{foreign.call_sid}?{query}")
    assert swapped_call.status_code == 403 and swapped_call.json()["code"] == "recording_url_invalid"
    swapped_business = anonymous.get(url.replace(f"business_id={business.pk}", f"business_id={other.pk}"))
    assert swapped_business.status_code == 403
    forged = anonymous.get(url[: -len("0" * 8)] + "0" * 8, headers={"Range": "bytes=0-9"})
    assert forged.status_code == 403 and forged.json()["code"] == "recording_url_invalid"


@pytest.mark.django_db(transaction=True)
def test_upload_over_the_limit_is_refused_by_nginx_with_413(front, settings):
    limit = site_setting("client_max_body_size")
    assert limit.endswith("m") and int(limit[:-1]) * 1024 * 1024 == settings.UPLOAD_MAX_BYTES
    business = Business.objects.create(name="uploads")
    token = member_token(business, "uploader")
    context = ssl.create_default_context(cafile=str(front["cert"]))
    conn = http.client.HTTPSConnection("localhost", front["port"], context=context, timeout=30)
    try:
        # Only the headers: nginx answers from Content-Length before any body is sent.
        conn.putrequest("POST", "/api/leads/import")
        conn.putheader("Authorization", f"Token {token}")
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Content-Length", str(settings.UPLOAD_MAX_BYTES + 1))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
        assert response.getheader("Server", "").startswith("nginx")
    finally:
        conn.close()
    # Within the limit the request reaches Django (which rejects the malformed body, not its size).
    small = front["session"].post(
        f"{front['url']}/api/leads/import", headers={"Authorization": f"Token {token}"}, files={"file": ("a.csv", b"")}
    )
    assert small.status_code == 400
