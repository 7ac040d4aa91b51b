"""The signed file URL the prepare endpoint hands a player: what it grants, what it refuses,
and that the file answers through it are those of the authenticated endpoint."""

import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from rest_framework.throttling import SimpleRateThrottle

from callcenter.models import Membership
from recordings import signed_urls
from recordings.models import RecordingRun
from tests.plugins.recordings import recording_create, recording_store

pytestmark = pytest.mark.django_db

HEBREW_INVALID = "אינו תקף"
HEBREW_EXPIRED = "פג תוקפו"


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def signed_url(recording, **kwargs) -> str:
    return signed_urls.recording_signed_url(business_id=recording.business_id, call_sid=recording.call_sid, **kwargs)


def with_query(url: str, **changes) -> str:
    """`url` with some query parameters replaced (None: left out)."""
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query.update(changes)
    return f"{parts.path}?{urlencode({name: value for name, value in query.items() if value is not None})}"


@pytest.fixture
def anonymous():
    """A client with no token and no session: an <audio> element on another tab, a bench client."""
    return Client()


def test_prepare_hands_out_a_signed_url_that_plays_without_credentials(api, anonymous, ready_recording, audio_bytes):
    before = int(time.time())
    data = api.post(f"/api/recordings/{ready_recording.call_sid}/prepare").json()
    url = urlsplit(data["url"])
    assert url.path == f"/api/recordings/file/{ready_recording.call_sid}"
    query = parse_qs(url.query)
    assert query["business_id"] == [str(ready_recording.business_id)]
    expires = int(query["expires"][0])
    assert before + django_settings.RECORDING_URL_MAX_AGE_SECONDS <= expires <= time.time() + 3600
    assert len(query["signature"][0]) == 64

    response = anonymous.get(data["url"], HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert body(response) == audio_bytes[100:200]


def test_a_signed_range_costs_one_statement(anonymous, ready_recording, django_assert_num_queries):
    url = signed_url(ready_recording)
    with django_assert_num_queries(1):
        assert anonymous.get(url, HTTP_RANGE="bytes=0-9").status_code == 206


def test_the_next_ranges_of_the_moment_cost_none(anonymous, ready_recording, audio_bytes, django_assert_num_queries):
    url = signed_url(ready_recording)
    assert anonymous.get(url, HTTP_RANGE="bytes=0-9").status_code == 206
    with django_assert_num_queries(0):
        response = anonymous.get(url, HTTP_RANGE="bytes=10-19")
    assert response.status_code == 206 and body(response) == audio_bytes[10:20]


def test_a_deleted_recording_is_served_no_longer_than_the_cache_holds_it(
    anonymous, ready_recording, settings, monkeypatch
):
    from recordings import services

    settings.RECORDING_READY_CACHE_SECONDS = 2
    now = [1000.0]
    monkeypatch.setattr(services.time, "monotonic", lambda: now[0])
    url = signed_url(ready_recording)
    assert anonymous.get(url, HTTP_RANGE="bytes=0-9").status_code == 206
    ready_recording.delete()
    now[0] += 1.9
    assert anonymous.get(url, HTTP_RANGE="bytes=0-9").status_code == 206
    now[0] += 0.2
    assert anonymous.get(url, HTTP_RANGE="bytes=0-9").status_code == 404


def test_with_no_cache_every_range_asks_the_database(anonymous, ready_recording, settings, django_assert_num_queries):
    settings.RECORDING_READY_CACHE_SECONDS = 0
    url = signed_url(ready_recording)
    for _ in range(2):
        with django_assert_num_queries(1):
            assert anonymous.get(url, HTTP_RANGE="bytes=0-9").status_code == 206


def test_the_cache_keeps_a_bounded_number_of_recordings(ready_recording, settings):
    from recordings.services import ReadyRecordings

    cache = ReadyRecordings()
    for index in range(ReadyRecordings.MAX_ENTRIES + 10):
        cache.put((1, f"CA{index}"), ready_recording)
    assert len(cache._entries) == ReadyRecordings.MAX_ENTRIES
    assert cache.get((1, "CA0")) is None and cache.get((1, f"CA{ReadyRecordings.MAX_ENTRIES + 9}")) is not None


@pytest.mark.parametrize("delivery", ["django", "x-accel-redirect", "x-sendfile"])
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="whole"),
        pytest.param({"HTTP_RANGE": "bytes=1000-1999"}, id="range"),
        pytest.param({"HTTP_RANGE": "bytes=-500"}, id="suffix"),
        pytest.param({"HTTP_RANGE": "bytes=0-1,5-6"}, id="several-ranges"),
        pytest.param({"HTTP_RANGE": "bytes=abc"}, id="malformed-range"),
        pytest.param({"HTTP_RANGE": "bytes=99999999-"}, id="past-the-end"),
        pytest.param({"HTTP_IF_NONE_MATCH": "ETAG"}, id="if-none-match"),
        pytest.param({"HTTP_IF_NONE_MATCH": "W/ETAG"}, id="weak-if-none-match"),
        pytest.param({"HTTP_IF_NONE_MATCH": '"other"'}, id="other-etag"),
        pytest.param({"HTTP_RANGE": "bytes=0-9", "HTTP_IF_RANGE": "ETAG"}, id="if-range-current"),
        pytest.param({"HTTP_RANGE": "bytes=0-9", "HTTP_IF_RANGE": '"old"'}, id="if-range-outdated"),
    ],
)
def test_signed_answers_are_those_of_the_authenticated_endpoint(
    api, anonymous, ready_recording, settings, delivery, headers
):
    settings.RECORDING_FILE_DELIVERY = delivery
    headers = {name: value.replace("ETAG", ready_recording.etag) for name, value in headers.items()}
    authenticated = api.get(f"/api/recordings/file/{ready_recording.call_sid}", **headers)
    signed = anonymous.get(signed_url(ready_recording), **headers)
    assert signed.status_code == authenticated.status_code
    compared = (
        "Content-Type",
        "Content-Length",
        "Content-Range",
        "Content-Disposition",
        "ETag",
        "Last-Modified",
        "Accept-Ranges",
        "Cache-Control",
        "X-Accel-Redirect",
        "X-Sendfile",
    )
    assert {name: signed.get(name) for name in compared} == {name: authenticated.get(name) for name in compared}
    assert body(signed) == body(authenticated)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda url, recording: with_query(url, signature="0" * 64), id="forged-signature"),
        pytest.param(lambda url, recording: with_query(url, signature=""), id="empty-signature"),
        pytest.param(
            lambda url, recording: with_query(url, expires=str(int(time.time()) + 10 * 365 * 86400)),
            id="expiry-pushed-back",
        ),
        pytest.param(lambda url, recording: with_query(url, expires=None), id="no-expiry"),
        pytest.param(lambda url, recording: with_query(url, expires="soon"), id="expiry-not-a-number"),
        pytest.param(lambda url, recording: with_query(url, expires="²"), id="expiry-unicode-digit"),
        pytest.param(lambda url, recording: with_query(url, business_id=None), id="no-business"),
        pytest.param(
            lambda url, recording: with_query(url, business_id=str(recording.business_id + 1)), id="other-business-id"
        ),
    ],
)
def test_a_tampered_url_is_refused_with_403(anonymous, ready_recording, tamper):
    response = anonymous.get(tamper(signed_url(ready_recording), ready_recording), HTTP_RANGE="bytes=0-9")
    assert response.status_code == 403
    assert response.json()["code"] == "recording_url_invalid"
    assert HEBREW_INVALID in response.json()["error"]  # Hebrew, the default language


def test_a_signature_for_one_call_does_not_open_another(anonymous, business, ready_recording, audio_bytes):
    second = recording_store(recording_create(business=business, call_sid="CA" + "2" * 32), audio_bytes)
    query = urlsplit(signed_url(ready_recording)).query
    response = anonymous.get(f"/api/recordings/file/{second.call_sid}?{query}")
    assert response.status_code == 403
    assert response.json()["code"] == "recording_url_invalid"


def test_a_url_signed_with_another_key_is_refused_and_a_rotated_key_still_works(anonymous, ready_recording, settings):
    settings.SECRET_KEY = "another-deployment-key-" + "x" * 40
    foreign = signed_url(ready_recording)
    settings.SECRET_KEY = "the-new-key-after-rotation-" + "y" * 40
    assert anonymous.get(foreign).status_code == 403
    # The old key kept as a fallback: URLs handed out before the rotation play until they expire.
    settings.SECRET_KEY_FALLBACKS = ["another-deployment-key-" + "x" * 40]
    assert anonymous.get(foreign, HTTP_RANGE="bytes=0-9").status_code == 206


def test_an_expired_url_is_refused_with_403_in_hebrew_and_english(anonymous, ready_recording, settings):
    settings.RECORDING_URL_MAX_AGE_SECONDS = 60
    # A stopped clock: `expires` is whole seconds, so on a running clock a URL signed 59 s ago
    # can already have expired by the time the request is checked.
    with time_machine.travel(datetime(2026, 11, 30, 20, 29, 41, 998674, tzinfo=UTC), tick=False):
        expired = signed_url(ready_recording, now=time.time() - 61)
        response = anonymous.get(expired, HTTP_RANGE="bytes=0-9")
        assert response.status_code == 403
        assert response.json()["code"] == "recording_url_expired"
        assert HEBREW_EXPIRED in response.json()["error"]
        english = anonymous.get(expired, HTTP_ACCEPT_LANGUAGE="en").json()["error"]
        assert english == "This recording link has expired. Open the recording again from its page."
        # Within its lifetime it plays.
        assert anonymous.get(signed_url(ready_recording, now=time.time() - 59)).status_code == 200


def test_a_validly_signed_url_for_another_business_finds_nothing(anonymous, other_business, ready_recording):
    """Signed for business B and a call of business A: every lookup is scoped to B, so 404."""
    url = signed_urls.recording_signed_url(business_id=other_business.pk, call_sid=ready_recording.call_sid)
    response = anonymous.get(url, HTTP_RANGE="bytes=0-9")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert anonymous.get(signed_urls.recording_signed_url(business_id=999999, call_sid="CAnone")).status_code == 404


def test_the_url_outlives_a_removed_membership_until_it_expires(api, anonymous, member, ready_recording):
    """The documented revocation window: the signature, not the membership, is checked."""
    url = api.post(f"/api/recordings/{ready_recording.call_sid}/prepare").json()["url"]
    Membership.objects.filter(user=member).delete()
    assert api.post(f"/api/recordings/{ready_recording.call_sid}/prepare").status_code == 403
    assert anonymous.get(url, HTTP_RANGE="bytes=0-9").status_code == 206


def test_a_signed_url_whose_file_vanished_starts_a_download(anonymous, ready_recording):
    ready_recording.file.storage.delete(ready_recording.file.name)
    response = anonymous.get(signed_url(ready_recording))
    assert response.status_code == 202
    assert response["Retry-After"] == str(django_settings.RECORDING_RETRY_AFTER_SECONDS)
    run = RecordingRun.objects.get(recording=ready_recording)
    assert response.json() == {
        "job_id": run.pk,
        "status": "queued",
        "call_sid": ready_recording.call_sid,
        "retry_after": django_settings.RECORDING_RETRY_AFTER_SECONDS,
    }
    assert run.created_by is None
    assert anonymous.get(signed_url(ready_recording)).json()["job_id"] == run.pk


def test_a_signed_url_of_an_absent_recording_says_so(anonymous, business):
    from django.utils import timezone

    absent = recording_create(business=business, absent_at=timezone.now())
    response = anonymous.get(signed_urls.recording_signed_url(business_id=business.pk, call_sid=absent.call_sid))
    assert response.status_code == 404
    assert response.json()["code"] == "recording_absent"


def test_refused_signatures_count_against_the_anonymous_rate(anonymous, ready_recording, monkeypatch):
    rates = {**django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "3/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    valid = signed_url(ready_recording)
    forged = with_query(valid, signature="f" * 64)
    # Valid signatures are not counted: a player reads a long file in many ranges.
    assert {anonymous.get(valid, HTTP_RANGE="bytes=0-9").status_code for _ in range(10)} == {206}
    assert [anonymous.get(forged).status_code for _ in range(4)] == [403, 403, 403, 429]
    throttled = anonymous.get(forged)
    assert throttled.json()["code"] == "throttled" and int(throttled["Retry-After"]) > 0
    assert anonymous.get(valid, HTTP_RANGE="bytes=0-9").status_code == 206


def test_without_a_signature_the_endpoint_still_requires_credentials(anonymous, ready_recording):
    assert anonymous.get(f"/api/recordings/file/{ready_recording.call_sid}").status_code == 401
    unsigned = with_query(signed_url(ready_recording), signature=None)
    assert anonymous.get(unsigned).status_code == 401
