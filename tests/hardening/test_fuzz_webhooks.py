"""The three Twilio webhooks with generated parameters that are genuinely signed: whatever
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

EXAMPLES = int(os.environ.get("FUZZ_WEBHOOK_EXAMPLES", "150"))
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


@pytest.mark.django_db
def test_status_callbacks_never_answer_5xx(client, world, job_ids):
    @seed(SEED)
    @FUZZ
    @given(
        job_id=optional(st.one_of(st.sampled_from(job_ids).map(str), numbers, any_text)),
        claim=optional(st.one_of(numbers, any_text)),
        call_sid=optional(sids),
        status=optional(statuses),
        sequence=optional(st.one_of(numbers, any_text)),
        duration=optional(st.one_of(numbers, any_text)),
        answered_by=optional(st.one_of(st.sampled_from(["human", "machine_start", "fax"]), any_text)),
        error_code=optional(any_text),
        error_message=optional(any_text),
        extra=st.dictionaries(st.text(min_size=1, max_size=20), any_text, max_size=3),
    )
    def check(job_id, claim, call_sid, status, sequence, duration, answered_by, error_code, error_message, extra):
        params = {
            **extra,
            "CallSid": call_sid,
            "CallStatus": status,
            "SequenceNumber": sequence,
            "CallDuration": duration,
            "AnsweredBy": answered_by,
            "ErrorCode": error_code,
            "ErrorMessage": error_message,
        }
        response = _post(client, "/webhooks/twilio/call-status", {"job_id": job_id, "claim": claim}, params)
        assert response.status_code < 500 and response.status_code != 403, (job_id, claim, params)

    check()


@pytest.mark.django_db
def test_recording_callbacks_never_answer_5xx(client, world):
    @seed(SEED)
    @FUZZ
    @given(
        business_id=optional(st.one_of(st.just(str(world.business_id)), numbers, any_text)),
        call_sid=optional(sids),
        recording_sid=optional(sids),
        status=optional(st.one_of(st.sampled_from(["completed", "in-progress", "absent", "failed"]), any_text)),
        duration=optional(st.one_of(numbers, any_text)),
        extra=st.dictionaries(st.text(min_size=1, max_size=20), any_text, max_size=3),
    )
    def check(business_id, call_sid, recording_sid, status, duration, extra):
        params = {
            **extra,
            "CallSid": call_sid,
            "RecordingSid": recording_sid,
            "RecordingStatus": status,
            "RecordingDuration": duration,
        }
        response = _post(client, "/webhooks/twilio/recording-status", {"business_id": business_id}, params)
        assert response.status_code < 500 and response.status_code != 403, (business_id, params)

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
