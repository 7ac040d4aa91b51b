"""The Twilio webhooks (status, recording, voice, gather) with generated parameters that are genuinely signed: whatever
the values, never a 5xx (a malformed callback is acknowledged and ignored with a warning).

FUZZ_WEBHOOK_EXAMPLES examples per webhook with a fixed seed in CI; raise it for a larger run.
"""

import os
from urllib.parse import urlencode

import pytest
from django.conf import settings
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from outbound.models import OutboundCallJob
from tests.hardening.fuzz_world import fuzz_world_create

EXAMPLES = int(os.environ.get("FUZZ_WEBHOOK_EXAMPLES", "300"))
SEED = int(os.environ.get("FUZZ_SEED", "20261130"))
FUZZ = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Any text Twilio's form encoding can carry (UTF-8: no lone surrogates), NUL and controls included.
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["0", "1", str(2**31 - 1), str(2**31), str(2**63), "9" * 20, "-1", "1e9", " 7", "٣"]),
)
sids = st.one_of(
    st.sampled_from(["CA" + "a" * 32, "CA" + "a" * 31 + "9", "RE" + "b" * 32, "CA1"]),
    st.text("CAREabcdef0123456789", min_size=1, max_size=200),
    any_text,
)
statuses = st.one_of(
    st.sampled_from(["queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed"]),
    st.sampled_from(["canceled", "absent", "COMPLETED", ""]),
    any_text,
)


def optional(strategy):
    return st.one_of(st.none(), strategy)


def _post(client, path: str, query: dict, params: dict):
    query = {name: value for name, value in query.items() if value is not None}
    params = {name: value for name, value in params.items() if value is not None}
    full_path = f"{path}?{urlencode(query)}" if query else path
    url = settings.PUBLIC_BASE_URL + full_path
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)
    # Form-encoded, as Twilio sends it.
    body = urlencode(params)
    return client.post(
        full_path, body, content_type="application/x-www-form-urlencoded", HTTP_X_TWILIO_SIGNATURE=signature
    )


@pytest.fixture
def world(db, settings, media_root):
    settings.TWILIO_AUTH_TOKEN = "fuzz-auth-token"
    settings.OUTBOUND_DISPATCH = "inline"
    return fuzz_world_create()


@pytest.fixture
def job_ids(world):
    return list(OutboundCallJob.objects.values_list("pk", flat=True))


def fuzzed(valid: dict, fuzz: dict):
    """A genuine callback (`valid`) with some of its parameters replaced by fuzzed values or
    left out, so the fuzzed value reaches the code past the checks it would otherwise fail."""
    return st.dictionaries(st.sampled_from(sorted(fuzz)), st.booleans(), max_size=len(fuzz)).flatmap(
        lambda chosen: st.fixed_dictionaries(
            {name: (optional(fuzz[name]) if name in chosen else st.just(valid[name])) for name in valid}
        )
    )


def _split(values: dict, query_names: tuple[str, ...]) -> tuple[dict, dict]:
    query = {name: values.pop(name) for name in query_names}
    return query, values


@pytest.mark.django_db
def test_status_callbacks_never_answer_5xx(client, world, job_ids):
    call = OutboundCallJob.objects.get(call_sid=world.call_sid)
    valid = {
        "job_id": str(call.pk),
        "claim": str(call.claim_number),
        "CallSid": world.call_sid,
        "CallStatus": "completed",
        "SequenceNumber": "3",
        "CallDuration": "12",
        "AnsweredBy": "human",
        "ErrorCode": "",
        "ErrorMessage": "",
    }
    fuzz = {
        "job_id": st.one_of(st.sampled_from(job_ids).map(str), numbers, any_text),
        "claim": st.one_of(numbers, any_text),
        "CallSid": sids,
        "CallStatus": statuses,
        "SequenceNumber": st.one_of(numbers, any_text),
        "CallDuration": st.one_of(numbers, any_text),
        "AnsweredBy": st.one_of(st.sampled_from(["human", "machine_start", "fax"]), any_text),
        "ErrorCode": any_text,
        "ErrorMessage": any_text,
    }

    @seed(SEED)
    @FUZZ
    @given(values=fuzzed(valid, fuzz), extra=st.dictionaries(st.text(min_size=1, max_size=20), any_text, max_size=3))
    def check(values, extra):
        query, params = _split(dict(values), ("job_id", "claim"))
        response = _post(client, "/webhooks/twilio/call-status", query, {**extra, **params})
        assert response.status_code < 500 and response.status_code != 403, (query, params)

    check()


@pytest.mark.django_db
def test_recording_callbacks_never_answer_5xx(client, world):
    valid = {
        "business_id": str(world.business_id),
        "CallSid": "CA" + "c" * 32,
        "RecordingSid": "RE" + "d" * 32,
        "RecordingStatus": "completed",
        "RecordingDuration": "42",
    }
    fuzz = {
        "business_id": st.one_of(numbers, any_text),
        "CallSid": sids,
        "RecordingSid": sids,
        "RecordingStatus": st.one_of(st.sampled_from(["completed", "in-progress", "absent", "failed"]), any_text),
        "RecordingDuration": st.one_of(numbers, any_text),
    }

    @seed(SEED)
    @FUZZ
    @given(values=fuzzed(valid, fuzz), extra=st.dictionaries(st.text(min_size=1, max_size=20), any_text, max_size=3))
    def check(values, extra):
        query, params = _split(dict(values), ("business_id",))
        response = _post(client, "/webhooks/twilio/recording-status", query, {**extra, **params})
        assert response.status_code < 500 and response.status_code != 403, (query, params)

    check()


@pytest.mark.django_db
def test_voice_webhook_never_answers_5xx(client, world, job_ids):
    @seed(SEED)
    @FUZZ
    @given(
        job_id=optional(st.one_of(st.sampled_from(job_ids).map(str), numbers, any_text)),
        params=st.dictionaries(
            st.one_of(st.sampled_from(["CallSid", "CallStatus", "From", "To", "AnsweredBy", "Digits"]), any_text),
            any_text,
            max_size=6,
        ),
    )
    def check(job_id, params):
        response = _post(client, "/webhooks/twilio/voice", {"job_id": job_id}, params)
        assert response.status_code < 500 and response.status_code != 403, (job_id, params)
        assert response["Content-Type"] == "text/xml; charset=utf-8"

    check()


@pytest.mark.django_db
def test_gather_webhook_never_answers_5xx(client, world, job_ids, settings):
    settings.OUTBOUND_OPT_OUT_DIGIT = "9"
    call = OutboundCallJob.objects.get(call_sid=world.call_sid)
    valid = {"job_id": str(call.pk), "claim": str(call.claim_number), "Digits": "9", "CallSid": world.call_sid}
    fuzz = {
        "job_id": st.one_of(st.sampled_from(job_ids).map(str), numbers, any_text),
        "claim": st.one_of(numbers, any_text),
        "Digits": st.one_of(st.sampled_from(["9", "1", "#", "99"]), any_text),
        "CallSid": sids,
    }

    @seed(SEED)
    @FUZZ
    @given(values=fuzzed(valid, fuzz))
    def check(values):
        query, params = _split(dict(values), ("job_id", "claim"))
        response = _post(client, "/webhooks/twilio/gather", query, params)
        assert response.status_code < 500 and response.status_code != 403, (query, params)
        assert response["Content-Type"] == "text/xml; charset=utf-8"

    check()
