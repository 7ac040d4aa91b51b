"""The one place the project talks to Twilio.

Every call goes through the real ``twilio`` client (or, for recording media, ``requests``)
with the credentials, base URL and timeout of the settings. With ``TWILIO_API_BASE_URL``
set, the client's API domain points there instead of https://api.twilio.com, which is how
the local simulator stands in for Twilio. Failures are classified so callers can decide:
``RetryableTwilioError`` (rate limit, Twilio-side 5xx, timeouts, connection errors) is worth
trying again later, ``PermanentTwilioError`` (invalid number, other 4xx) is not.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from callcenter.ops import metrics

logger = logging.getLogger(__name__)

TWILIO_API_DEFAULT_BASE_URL = "https://api.twilio.com"
# Not "initiated": it follows calls.create's own answer (which gave the SID) within
# milliseconds and tells the system nothing it uses; leaving it out spares a webhook per call.
STATUS_CALLBACK_EVENTS = ("ringing", "answered", "completed")
# in-progress when recording starts; then completed, or absent when Twilio has no audio.
RECORDING_STATUS_CALLBACK_EVENTS = ("in-progress", "completed", "absent")
# Twilio's answer to an update of a call that has already ended.
CALL_NOT_IN_PROGRESS_CODE = 21220
RECORDING_FORMATS = {"mp3": "audio/mpeg", "wav": "audio/x-wav"}
RATE_LIMIT_CODE = 20429

# twilio-python prefixes the API's message with what it was doing ("Unable to create record: ").
_CLIENT_MESSAGE_PREFIX = re.compile(r"^Unable to [a-z ]+: ")


class TwilioGatewayError(Exception):
    """A Twilio request failed; ``code`` and ``message`` are Twilio's own when it answered."""

    retryable = False

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status

    def __str__(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        return " | ".join(parts)


class RetryableTwilioError(TwilioGatewayError):
    """Rate limited (429 / 20429), Twilio-side 5xx, timeout or connection failure."""

    retryable = True


class PermanentTwilioError(TwilioGatewayError):
    """Invalid or unreachable number, bad credentials, unknown resource and other 4xx."""

    retryable = False


@dataclass(frozen=True)
class CallInfo:
    sid: str
    status: str
    to: str
    from_: str
    duration: int | None
    answered_by: str | None
    start_time: datetime | None
    end_time: datetime | None
    date_created: datetime | None


@dataclass
class RecordingMedia:
    content_type: str
    content_length: int | None
    chunks: Iterator[bytes]


def public_url(path: str) -> str:
    """The absolute URL Twilio reaches ``path`` of this project at (callbacks, TwiML)."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + "/" + path.lstrip("/")


def api_base_url() -> str:
    return (settings.TWILIO_API_BASE_URL or TWILIO_API_DEFAULT_BASE_URL).rstrip("/")


# --- client -------------------------------------------------------------------------------

_clients = threading.local()


def _client() -> Client:
    """One client per thread and per configuration: requests sessions are not shared across
    threads, and tests (or a settings change) get a fresh client for new credentials."""
    key = (
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_API_BASE_URL,
        float(settings.TWILIO_TIMEOUT_SECONDS),
    )
    cached = getattr(_clients, "entry", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    if not settings.TWILIO_ACCOUNT_SID or not settings.TWILIO_AUTH_TOKEN:
        raise PermanentTwilioError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set")
    client = Client(
        username=settings.TWILIO_ACCOUNT_SID,
        password=settings.TWILIO_AUTH_TOKEN,
        account_sid=settings.TWILIO_ACCOUNT_SID,
        http_client=TwilioHttpClient(timeout=float(settings.TWILIO_TIMEOUT_SECONDS)),
    )
    if settings.TWILIO_API_BASE_URL:
        # Every v2010 resource URL is built from the API domain's base_url. Edge/region
        # settings from the environment would rewrite that host, so they are cleared.
        client.api.base_url = api_base_url()
        client.edge = None
        client.region = None
    _clients.entry = (key, client)
    return client


def _account():
    return _client().api.v2010.account


# --- error classification -----------------------------------------------------------------


def _classify(http_status: int | None, code: int | None, message: str) -> TwilioGatewayError:
    retryable = code == RATE_LIMIT_CODE or http_status == 429 or (http_status is not None and http_status >= 500)
    error_class = RetryableTwilioError if retryable else PermanentTwilioError
    return error_class(message, code=code, http_status=http_status)


def _from_twilio_exception(exc: Exception) -> TwilioGatewayError:
    if isinstance(exc, TwilioRestException):
        message = _CLIENT_MESSAGE_PREFIX.sub("", str(exc.msg or ""), count=1)
        code = exc.code if exc.code != exc.status else None
        return _classify(exc.status, code, message)
    if isinstance(exc, TwilioServiceException):
        return _classify(exc.status, exc.code, exc.detail or exc.title)
    return PermanentTwilioError(str(exc))


def _from_transport_exception(exc: requests.RequestException) -> RetryableTwilioError:
    if isinstance(exc, requests.Timeout):
        return RetryableTwilioError(
            f"Twilio did not answer within {settings.TWILIO_TIMEOUT_SECONDS}s: {exc}", code=None, http_status=None
        )
    return RetryableTwilioError(f"Could not reach Twilio: {exc}", code=None, http_status=None)


def _observed(operation: str, error: TwilioGatewayError, cause: BaseException | None = None) -> TwilioGatewayError:
    metrics.twilio_error_observe(operation=operation, error=error, cause=cause)
    return error


@contextmanager
def _translated_errors(operation: str = "other"):
    try:
        yield
    except requests.RequestException as exc:
        raise _observed(operation, _from_transport_exception(exc), exc) from exc
    except (TwilioRestException, TwilioServiceException, TwilioException) as exc:
        raise _observed(operation, _from_twilio_exception(exc), exc) from exc


def _error_from_response(response: requests.Response) -> TwilioGatewayError:
    code = None
    message = response.reason or f"HTTP {response.status_code}"
    try:
        payload = json.loads(response.content or b"{}")
    except ValueError:
        payload = {}
    if isinstance(payload, dict):
        code = payload.get("code") if isinstance(payload.get("code"), int) else None
        message = payload.get("message") or payload.get("detail") or message
    return _classify(response.status_code, code, message)


# --- calls --------------------------------------------------------------------------------


def _int_or_none(value) -> int | None:
    if value in (None, ""):
        return None
    return int(value)


def _call_info(instance) -> CallInfo:
    return CallInfo(
        sid=instance.sid,
        status=str(instance.status),
        to=instance.to,
        from_=instance._from,
        duration=_int_or_none(instance.duration),
        answered_by=instance.answered_by or None,
        start_time=instance.start_time,
        end_time=instance.end_time,
        date_created=instance.date_created,
    )


def call_create(
    *,
    to: str,
    twiml_url: str,
    status_callback_url: str,
    from_number: str | None = None,
    record: bool = False,
    recording_status_callback_url: str | None = None,
    machine_detection: bool | str = False,
    ring_timeout_seconds: int = 30,
) -> CallInfo:
    """Start an outbound call. Twilio fetches ``twiml_url`` on answer and POSTs the status
    events ringing, answered and completed to ``status_callback_url``.
    ``machine_detection``: True for Twilio's "Enable" (AnsweredBy human, machine_start, fax,
    unknown), or the mode by name ("DetectMessageEnd": machine_end_beep / _silence / _other)."""
    options = {}
    if record:
        options["record"] = True
        if recording_status_callback_url:
            options["recording_status_callback"] = recording_status_callback_url
            options["recording_status_callback_method"] = "POST"
            options["recording_status_callback_event"] = list(RECORDING_STATUS_CALLBACK_EVENTS)
    if machine_detection:
        options["machine_detection"] = machine_detection if isinstance(machine_detection, str) else "Enable"
    with _translated_errors("calls.create"):
        instance = _account().calls.create(
            to=to,
            from_=from_number or settings.TWILIO_FROM_NUMBER,
            url=twiml_url,
            method="POST",
            status_callback=status_callback_url,
            status_callback_method="POST",
            status_callback_event=list(STATUS_CALLBACK_EVENTS),
            timeout=ring_timeout_seconds,
            **options,
        )
    metrics.DIALS_STARTED.inc()
    return _call_info(instance)


def call_fetch(*, call_sid: str) -> CallInfo:
    with _translated_errors("calls.fetch"):
        instance = _account().calls(call_sid).fetch()
    return _call_info(instance)


def call_update(*, call_sid: str, status: str) -> CallInfo:
    """End a call at Twilio. ``canceled`` ends a call still queued or ringing and leaves one
    already answered alone; ``completed`` also hangs up a call in progress. A call that has
    already ended raises PermanentTwilioError with code 21220."""
    if status not in ("canceled", "completed"):
        raise ValueError(f"a call can be updated to canceled or completed, not {status!r}")
    with _translated_errors("calls.update"):
        instance = _account().calls(call_sid).update(status=status)
    return _call_info(instance)


def call_cancel(*, call_sid: str) -> CallInfo | None:
    """Cancel a call that has not been answered yet (a call in progress goes on). None when
    it had already ended: there is nothing left to cancel."""
    try:
        return call_update(call_sid=call_sid, status="canceled")
    except PermanentTwilioError as error:
        if error.code == CALL_NOT_IN_PROGRESS_CODE:
            return None
        raise


def calls_cancel(*, call_sids: list[str]) -> int:
    """Cancel each call not yet answered; returns how many Twilio canceled. A failure is
    logged, not raised: such a call still ends by itself (its ring timeout) and its final
    callback is applied like any other."""
    canceled = 0
    for call_sid in call_sids:
        try:
            info = call_cancel(call_sid=call_sid)
        except TwilioGatewayError as error:
            logger.warning("Could not cancel call %s at Twilio: %s", call_sid, error)
            continue
        canceled += info is not None and info.status == "canceled"
    return canceled


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def calls_list(*, to: str, started_after: datetime, started_before: datetime | None = None) -> list[CallInfo]:
    """Calls to ``to`` created or started in the window. Twilio filters StartTime by day at
    best, and calls still queued have no start time, so the window is applied here exactly."""
    with _translated_errors("calls.list"):
        instances = _account().calls.list(
            to=to,
            start_time_after=started_after,
            start_time_before=started_before,
        )
    after = _aware(started_after)
    before = _aware(started_before) if started_before else None
    result = []
    for instance in instances:
        info = _call_info(instance)
        moment = info.start_time or info.date_created
        if moment is None or moment < after or (before is not None and moment > before):
            continue
        result.append(info)
    return result


# --- recordings ---------------------------------------------------------------------------


def recording_media_url(*, recording_sid: str, fmt: str = "mp3") -> str:
    return f"{api_base_url()}/2010-04-01/Accounts/{settings.TWILIO_ACCOUNT_SID}/Recordings/{recording_sid}.{fmt}"


def _chunks(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    try:
        for chunk in response.iter_content(chunk_size=chunk_size):
            if chunk:
                yield chunk
    except requests.RequestException as exc:
        raise _observed("recordings.media", _from_transport_exception(exc), exc) from exc


@contextmanager
def recording_media(*, recording_sid: str, fmt: str = "mp3", chunk_size: int = 64 * 1024) -> Iterator[RecordingMedia]:
    """Stream a recording's audio. Only ``chunk_size`` bytes are held at a time; the
    connection closes when the block exits. A 404 is permanent (http_status 404): callers
    that expect a recording not yet processed may retry it."""
    if fmt not in RECORDING_FORMATS:
        raise ValueError(f"unsupported recording format {fmt!r}; use one of {sorted(RECORDING_FORMATS)}")
    if not settings.TWILIO_ACCOUNT_SID or not settings.TWILIO_AUTH_TOKEN:
        raise PermanentTwilioError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set")
    timeout = float(settings.TWILIO_TIMEOUT_SECONDS)
    try:
        response = requests.get(
            recording_media_url(recording_sid=recording_sid, fmt=fmt),
            auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN),
            stream=True,
            timeout=(timeout, timeout),
        )
    except requests.RequestException as exc:
        raise _observed("recordings.media", _from_transport_exception(exc), exc) from exc
    with response:
        if response.status_code >= 400:
            raise _observed("recordings.media", _error_from_response(response))
        length = response.headers.get("Content-Length")
        yield RecordingMedia(
            content_type=response.headers.get("Content-Type") or RECORDING_FORMATS[fmt],
            content_length=int(length) if length and length.isdigit() else None,
            chunks=_chunks(response, chunk_size),
        )
