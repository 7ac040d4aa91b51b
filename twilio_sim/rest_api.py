"""Twilio's REST API, the subset the gateway uses: Basic auth, calls (create, fetch, list
with Twilio's filters and paging) and recordings (resource and media)."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from twilio_sim.engine import CallNotUpdatable
from twilio_sim.errors import TwilioApiError, not_found
from twilio_sim.media import send_media
from twilio_sim.resources import call_event_resource, call_resource, list_page, recording_resource
from twilio_sim.state import API_VERSION, SimCall

if TYPE_CHECKING:
    from twilio_sim.httpd import SimRequestHandler

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CLIENT_ADDRESS = re.compile(r"^client:[A-Za-z0-9_.-]+$")
# Twilio's magic test numbers: +15005550001 is invalid, +15005550002 cannot be routed.
MAGIC_INVALID_NUMBER = "+15005550001"
MAGIC_UNREACHABLE_NUMBER = "+15005550002"

ACCOUNT = rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)"
CALLS = re.compile(rf"{ACCOUNT}/Calls\.json$")
CALL = re.compile(rf"{ACCOUNT}/Calls/(?P<sid>[^/]+)\.json$")
CALL_RECORDINGS = re.compile(rf"{ACCOUNT}/Calls/(?P<call>[^/]+)/Recordings\.json$")
CALL_RECORDING = re.compile(rf"{ACCOUNT}/Calls/(?P<call>[^/]+)/Recordings/(?P<sid>[^/]+)\.json$")
CALL_EVENTS = re.compile(rf"{ACCOUNT}/Calls/(?P<call>[^/]+)/Events\.json$")
CALL_NOTIFICATIONS = re.compile(rf"{ACCOUNT}/Calls/(?P<call>[^/]+)/Notifications\.json$")
RECORDINGS = re.compile(rf"{ACCOUNT}/Recordings\.json$")
RECORDING = re.compile(rf"{ACCOUNT}/Recordings/(?P<sid>RE[0-9a-f]+)(?P<ext>\.[a-z0-9]+)?$")
RECORDING_SUBRESOURCES = re.compile(
    rf"{ACCOUNT}/Recordings/(?P<sid>RE[0-9a-f]+)/(?P<kind>AddOnResults|Transcriptions)\.json$"
)
# Twilio's list keys of the sub-resources that are always empty here.
EMPTY_LIST_KEYS = {"AddOnResults": "add_on_results", "Transcriptions": "transcriptions"}


def handle_api(request: SimRequestHandler, method: str, path: str, query: dict, body: bytes) -> None:
    engine = request.engine
    config = engine.config
    if config.hang_seconds:
        # Simulates Twilio not answering; the stop event ends the wait when shutting down.
        engine.stop_event.wait(config.hang_seconds)
    account = _authenticate(request)
    if engine.chance(config.server_error_rate):
        raise TwilioApiError(500, 20500, "An internal server error has occurred")
    for pattern, handlers in (
        (CALLS, {"GET": _calls_list, "POST": _calls_create}),
        (CALL, {"GET": _call_fetch, "POST": _call_update}),
        (CALL_RECORDINGS, {"GET": _call_recordings_list}),
        (CALL_RECORDING, {"GET": _call_recording_fetch}),
        (CALL_EVENTS, {"GET": _call_events_list}),
        (CALL_NOTIFICATIONS, {"GET": _call_notifications_list}),
        (RECORDINGS, {"GET": _recordings_list}),
        (RECORDING_SUBRESOURCES, {"GET": _recording_subresource_list}),
        (RECORDING, {"GET": _recording, "HEAD": _recording}),
    ):
        match = pattern.match(path)
        if match is None:
            continue
        if match["account"] != account:
            raise not_found(path)
        handler = handlers.get(method)
        if handler is None:
            raise TwilioApiError(405, 20004, f"Method {method} not allowed")
        handler(request, match, query, body)
        return
    raise not_found(path)


def _authenticate(request: SimRequestHandler) -> str:
    config = request.engine.config
    header = request.headers.get("Authorization", "")
    username = password = ""
    if header.startswith("Basic "):
        try:
            username, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            username = password = ""
    valid = hmac.compare_digest(username.encode(), config.account_sid.encode()) and hmac.compare_digest(
        password.encode(), config.auth_token.encode()
    )
    if not valid:
        raise TwilioApiError(401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect.")
    return username


# --- calls ------------------------------------------------------------------------------


def _calls_create(request: SimRequestHandler, match, query: dict, body: bytes) -> None:
    engine = request.engine
    config = engine.config
    form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)

    def param(name: str, default: str | None = None) -> str | None:
        values = form.get(name)
        return values[0] if values and values[0] != "" else default

    to = param("To")
    from_ = param("From")
    url = param("Url")
    if not to:
        raise TwilioApiError(400, 21201, "No 'To' number is specified")
    if not from_:
        raise TwilioApiError(400, 21213, "No 'From' number is specified")
    if not url and not param("Twiml") and not param("ApplicationSid"):
        raise TwilioApiError(400, 21205, "Either a 'Url', 'Twiml' or 'ApplicationSid' parameter is required")
    for name in ("Url", "StatusCallback", "RecordingStatusCallback"):
        value = param(name)
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise TwilioApiError(400, 21205, f"{name} is not a valid URL: {value}")
    well_formed = bool(E164.match(to) or CLIENT_ADDRESS.match(to))
    if not well_formed or to == MAGIC_INVALID_NUMBER or to in config.invalid_numbers:
        raise TwilioApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if to == MAGIC_UNREACHABLE_NUMBER:
        raise TwilioApiError(400, 21214, f"'To' phone number cannot be reached: {to}")
    if not E164.match(from_):
        raise TwilioApiError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
    try:
        ring_timeout = int(param("Timeout", "60"))
    except ValueError:
        raise TwilioApiError(400, 20001, "Timeout must be an integer")
    if not 1 <= ring_timeout <= 600:
        raise TwilioApiError(400, 20001, "Timeout must be between 1 and 600")
    events = _events(form, "StatusCallbackEvent")
    recording_events = _events(form, "RecordingStatusCallbackEvent") or {"completed"}
    if engine.rate_limited(time.time()):
        raise TwilioApiError(429, 20429, "Too Many Requests")
    call = engine.create_call(
        account_sid=match["account"],
        to=to,
        from_=from_,
        url=url,
        method=(param("Method", "POST") or "POST").upper(),
        status_callback=param("StatusCallback"),
        status_callback_method=(param("StatusCallbackMethod", "POST") or "POST").upper(),
        status_callback_events=frozenset(events),
        record=(param("Record", "false") or "").lower() == "true",
        recording_status_callback=param("RecordingStatusCallback"),
        recording_status_callback_method=(param("RecordingStatusCallbackMethod", "POST") or "POST").upper(),
        recording_status_callback_events=frozenset(recording_events),
        machine_detection=param("MachineDetection"),
        ring_timeout_seconds=ring_timeout,
    )
    request.send_json(201, call_resource(call))


def _events(form: dict, name: str) -> set[str]:
    """An event list parameter: repeated, space-separated, or both, as Twilio accepts it."""
    events = set()
    for value in form.get(name, []):
        events.update(value.replace(",", " ").split())
    return events


def _call_update(request: SimRequestHandler, match, query: dict, body: bytes) -> None:
    form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    status = (form.get("Status") or [""])[0]
    if status not in ("canceled", "completed"):
        raise TwilioApiError(400, 20001, f"Status must be canceled or completed, got {status!r}")
    call = _own_call(request, match, match["sid"])
    try:
        call = request.engine.update_call(call.sid, status)
    except CallNotUpdatable:
        raise TwilioApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
    request.send_json(200, call_resource(call))


def _own_call(request: SimRequestHandler, match, sid: str) -> SimCall:
    call = request.engine.call(sid)
    if call is None or call.account_sid != match["account"]:
        raise not_found(request.path)
    return call


def _call_fetch(request: SimRequestHandler, match, query: dict, body: bytes) -> None:
    call = request.engine.call(match["sid"])
    if call is None or call.account_sid != match["account"]:
        raise not_found(request.path)
    request.send_json(200, call_resource(call))


def _parse_filter_time(value: str) -> tuple[datetime, bool]:
    """A StartTime filter value: a date (whole-day comparison) or an ISO 8601 datetime."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC), True
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), False
    except ValueError:
        raise TwilioApiError(400, 20001, f"Invalid StartTime filter: {value}")


def _started_within(call: SimCall, operator: str, bound: datetime, whole_day: bool) -> bool:
    """Twilio's StartTime filters; calls not started yet count from their creation."""
    moment = datetime.fromtimestamp(call.started_at or call.created_at, tz=UTC)
    if operator == "=":
        return moment.date() == bound.date()
    left, right = (moment.date(), bound.date()) if whole_day else (moment, bound)
    return left >= right if operator == ">" else left <= right


def _paging(query: dict) -> tuple[int, int]:
    try:
        page_size = min(max(int((query.get("PageSize") or ["50"])[0]), 1), 1000)
        page = max(int((query.get("Page") or ["0"])[0]), 0)
    except ValueError:
        raise TwilioApiError(400, 20001, "PageSize and Page must be integers")
    return page, page_size


def _calls_list(request: SimRequestHandler, match, query: dict, body: bytes) -> None:
    def first(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    calls = [c for c in request.engine.calls() if c.account_sid == match["account"]]
    for name, attribute in (("To", "to"), ("From", "from_"), ("Status", "status")):
        value = first(name)
        if value:
            calls = [c for c in calls if getattr(c, attribute) == value]
    for name, operator in (("StartTime", "="), ("StartTime>", ">"), ("StartTime<", "<")):
        value = first(name)
        if value:
            bound, whole_day = _parse_filter_time(value)
            calls = [c for c in calls if _started_within(c, operator, bound, whole_day)]
    calls.sort(key=lambda c: c.created_at, reverse=True)
    page, page_size = _paging(query)
    selected = calls[page * page_size : (page + 1) * page_size]
    request.send_json(
        200,
        list_page(
            key="calls",
            base=f"/{API_VERSION}/Accounts/{match['account']}/Calls.json",
            items=[call_resource(c) for c in selected],
            total=len(calls),
            page=page,
            page_size=page_size,
            filters={k: v[0] for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")},
        ),
    )


# --- recordings and the call's other lists ---------------------------------------------


def _send_page(request: SimRequestHandler, query: dict, *, key: str, base: str, items: list[dict]) -> None:
    page, page_size = _paging(query)
    request.send_json(
        200,
        list_page(
            key=key,
            base=base,
            items=items[page * page_size : (page + 1) * page_size],
            total=len(items),
            page=page,
            page_size=page_size,
            filters={k: v[0] for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")},
        ),
    )


def _account_base(match) -> str:
    return f"/{API_VERSION}/Accounts/{match['account']}"


def _recordings_list(request: SimRequestHandler, match, query: dict, body: bytes) -> None:
    recordings = [r for r in request.engine.recordings() if r.account_sid == match["account"]]
    call_sid = (query.get("CallSid") or [""])[0]
    if call_sid:
        recordings = [r for r in recordings if r.call_sid == call_sid]
    recordings.sort(key=lambda r: r.created_at, reverse=True)
    items = [recording_resource(r) for r in recordings]
    _send_page(request, query, key="recordings", base=f"{_account_base(match)}/Recordings.json", items=items)


def _call_recordings_list(request: SimRequestHandler, match, query: dict, body: bytes) -> None:
    call = _own_call(request, match, match["call"])
    items = [recording_resource(call.recording, of_call=True)] if call.recording else []
    base = f"{_account_base(match)}/Calls/{call.sid}/Recordings.json"
    _send_page(request, query, key="recordings", base=base, items=items)


def _call_recording_fetch(request: SimRequestHandler, match, query: dict, body: bytes) -> None:
    call = _own_call(request, match, match["call"])
    if call.recording is None or call.recording.sid != match["sid"]:
        raise not_found(request.path)
    request.send_json(200, recording_resource(call.recording, of_call=True))


def _call_events_list(request: SimRequestHandler, match, query: dict, body: bytes) -> None:
    call = _own_call(request, match, match["call"])
    items = [call_event_resource(log) for log in request.engine.call_requests_sent(call.sid)]
    base = f"{_account_base(match)}/Calls/{call.sid}/Events.json"
    _send_page(request, query, key="events", base=base, items=items)


def _call_notifications_list(request: SimRequestHandler, match, query: dict, body: bytes) -> None:
    # The simulator's calls raise no warnings or errors of the kind Twilio notifies.
    call = _own_call(request, match, match["call"])
    base = f"{_account_base(match)}/Calls/{call.sid}/Notifications.json"
    _send_page(request, query, key="notifications", base=base, items=[])


def _recording_subresource_list(request: SimRequestHandler, match, query: dict, body: bytes) -> None:
    recording = request.engine.recording(match["sid"])
    if recording is None or recording.account_sid != match["account"]:
        raise not_found(request.path)
    kind = match["kind"]
    base = f"{_account_base(match)}/Recordings/{recording.sid}/{kind}.json"
    _send_page(request, query, key=EMPTY_LIST_KEYS[kind], base=base, items=[])


def _recording(request: SimRequestHandler, match, query: dict, body: bytes) -> None:
    engine = request.engine
    extension = (match["ext"] or ".wav").lstrip(".")
    if extension not in ("mp3", "wav", "json"):
        raise not_found(request.path)
    if extension == "json":
        recording = engine.recording(match["sid"])
        if recording is None or recording.account_sid != match["account"]:
            raise not_found(request.path)
        request.send_json(200, recording_resource(recording))
        return
    recording = engine.recording_for_fetch(match["sid"])
    if recording is None or recording.account_sid != match["account"]:
        raise not_found(request.path)
    send_media(request, recording, extension)
