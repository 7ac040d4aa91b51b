"""The simulator's HTTP face: Twilio's REST API subset plus ``/_sim/*`` control endpoints."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from twilio_sim.audio import SyntheticAudio
from twilio_sim.config import SimConfig
from twilio_sim.engine import API_VERSION, SimCall, SimEngine, rfc2822

logger = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CLIENT_ADDRESS = re.compile(r"^client:[A-Za-z0-9_.-]+$")
# Twilio's magic test numbers: +15005550001 is invalid, +15005550002 cannot be routed.
MAGIC_INVALID_NUMBER = "+15005550001"
MAGIC_UNREACHABLE_NUMBER = "+15005550002"

CALLS = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls\.json$")
CALL = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls/(?P<sid>[^/]+)\.json$")
RECORDING = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Recordings/(?P<sid>RE[0-9a-f]+)(?P<ext>\.[a-z0-9]+)?$"
)
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK_SIZE = 64 * 1024


# How often serve_forever checks for shutdown (the default 0.5 s slows every stop()).
SHUTDOWN_POLL_SECONDS = 0.05


class TwilioApiError(Exception):
    def __init__(self, http_status: int, code: int, message: str, **extra):
        super().__init__(message)
        self.http_status = http_status
        self.payload = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": http_status,
            **extra,
        }


def _not_found(path: str) -> TwilioApiError:
    return TwilioApiError(404, 20404, f"The requested resource {path} was not found")


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


def _call_resource(call: SimCall) -> dict:
    uri = f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}"
    return {
        "sid": call.sid,
        "account_sid": call.account_sid,
        "annotation": None,
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(call.updated_at),
        "direction": "outbound-api",
        "duration": None if call.duration is None else str(call.duration),
        "end_time": rfc2822(call.ended_at),
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": call.from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "start_time": rfc2822(call.started_at),
        "status": call.status,
        "to": call.to,
        "to_formatted": call.to,
        "trunk_sid": None,
        "uri": f"{uri}.json",
        "subresource_uris": {"recordings": f"{uri}/Recordings.json", "events": f"{uri}/Events.json"},
    }


class SimRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TwilioSimulator/1.0"
    # Headers and body leave in separate writes; with Nagle's algorithm on, keep-alive
    # clients would wait for a delayed ACK (~40 ms) on every response.
    disable_nagle_algorithm = True
    engine: SimEngine  # set on the subclass made per simulator

    def log_message(self, format, *args):
        pass

    # --- plumbing -------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload, headers: dict | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Twilio-Request-Id", f"RQ{uuid.uuid4().hex}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, error: TwilioApiError) -> None:
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if error.http_status == 401 else None
        self._send_json(error.http_status, error.payload, headers)

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        body = self._body()
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            if parts.path.startswith("/_sim/"):
                self._control(method, parts.path, query, body)
            else:
                self._api(method, parts.path, query, body)
        except TwilioApiError as error:
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            # Whatever a client sends, it gets Twilio's generic error rather than a dropped connection.
            logger.exception("simulator failed to handle %s %s", method, self.path)
            self._send_error(TwilioApiError(500, 20500, "An internal server error has occurred"))

    # --- control endpoints ----------------------------------------------------------------

    def _control(self, method: str, path: str, query: dict, body: bytes) -> None:
        engine = self.engine
        if path == "/_sim/calls" and method == "GET":
            calls = engine.calls_json()
            if "to" in query:
                calls = [c for c in calls if c["to"] in set(query["to"])]
            if "callback_contains" in query:
                needle = query["callback_contains"][0]
                calls = [c for c in calls if needle in (c["status_callback"] or "")]
            self._send_json(200, calls)
        elif path == "/_sim/recordings" and method == "GET":
            self._send_json(200, engine.recordings_json())
        elif path == "/_sim/config" and method == "GET":
            self._send_json(200, engine.config.as_json())
        elif path == "/_sim/config" and method == "POST":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object of settings")
                config = engine.configure(**changes)
            except (ValueError, TypeError) as exc:
                self._send_json(400, {"error": str(exc)})
                return
            self._send_json(200, config.as_json())
        elif path == "/_sim/reset" and method == "POST":
            engine.reset()
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, {"error": f"unknown simulator endpoint {method} {path}"})

    # --- Twilio REST API ------------------------------------------------------------------

    def _authenticate(self) -> str:
        config = self.engine.config
        header = self.headers.get("Authorization", "")
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

    def _api(self, method: str, path: str, query: dict, body: bytes) -> None:
        engine = self.engine
        config = engine.config
        if config.hang_seconds:
            # Simulates Twilio not answering; the stop event ends the wait when shutting down.
            engine.stop_event.wait(config.hang_seconds)
        account = self._authenticate()
        if engine.chance(config.server_error_rate):
            raise TwilioApiError(500, 20500, "An internal server error has occurred")
        for pattern, handlers in (
            (CALLS, {"GET": self._calls_list, "POST": self._calls_create}),
            (CALL, {"GET": self._call_fetch}),
            (RECORDING, {"GET": self._recording, "HEAD": self._recording}),
        ):
            match = pattern.match(path)
            if match is None:
                continue
            if match["account"] != account:
                raise _not_found(path)
            handler = handlers.get(method)
            if handler is None:
                raise TwilioApiError(405, 20004, f"Method {method} not allowed")
            handler(match, query, body)
            return
        raise _not_found(path)

    def _calls_create(self, match, query: dict, body: bytes) -> None:
        engine = self.engine
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
        events = set()
        for value in form.get("StatusCallbackEvent", []):
            events.update(value.split())
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
            machine_detection=param("MachineDetection"),
            ring_timeout_seconds=ring_timeout,
        )
        self._send_json(201, _call_resource(call))

    def _call_fetch(self, match, query: dict, body: bytes) -> None:
        call = self.engine.call(match["sid"])
        if call is None or call.account_sid != match["account"]:
            raise _not_found(self.path)
        self._send_json(200, _call_resource(call))

    def _calls_list(self, match, query: dict, body: bytes) -> None:
        def first(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        calls = [c for c in self.engine.calls() if c.account_sid == match["account"]]
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
        try:
            page_size = min(max(int(first("PageSize") or 50), 1), 1000)
            page = max(int(first("Page") or 0), 0)
        except ValueError:
            raise TwilioApiError(400, 20001, "PageSize and Page must be integers")
        selected = calls[page * page_size : (page + 1) * page_size]
        base = f"/{API_VERSION}/Accounts/{match['account']}/Calls.json"
        filters = {k: v[0] for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def page_uri(number: int) -> str:
            return f"{base}?{urlencode({**filters, 'PageSize': page_size, 'Page': number})}"

        self._send_json(
            200,
            {
                "calls": [_call_resource(c) for c in selected],
                "end": page * page_size + max(len(selected) - 1, 0),
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if len(calls) > (page + 1) * page_size else None,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "start": page * page_size,
                "uri": page_uri(page),
            },
        )

    def _recording(self, match, query: dict, body: bytes) -> None:
        engine = self.engine
        config = engine.config
        extension = (match["ext"] or ".wav").lstrip(".")
        if extension not in ("mp3", "wav", "json"):
            raise _not_found(self.path)
        if extension == "json":
            recording = engine.recording(match["sid"])
            if recording is None or recording.account_sid != match["account"]:
                raise _not_found(self.path)
            status = "completed" if recording.completed_at else "processing"
            self._send_json(200, {**recording.as_json(), "status": status})
            return
        recording = engine.recording_for_fetch(match["sid"])
        if recording is None or recording.account_sid != match["account"]:
            raise _not_found(self.path)
        audio = SyntheticAudio(extension, duration_seconds=recording.duration, size_bytes=config.recording_size_bytes)
        start, end = 0, audio.size - 1
        status = 200
        range_header = self.headers.get("Range")
        match_range = RANGE.match(range_header.strip()) if range_header else None
        if match_range and (match_range[1] or match_range[2]):
            if match_range[1]:
                start = int(match_range[1])
                end = min(int(match_range[2]), audio.size - 1) if match_range[2] else audio.size - 1
            else:
                start = max(audio.size - int(match_range[2]), 0)
            if start >= audio.size or start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{audio.size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", audio.content_type)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{audio.size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        rate = config.recording_bytes_per_second
        chunk_size = max(min(CHUNK_SIZE, int(rate / 10)), 1) if rate else CHUNK_SIZE
        began = time.monotonic()
        sent = 0
        for chunk in audio.iter_range(start, end, chunk_size=chunk_size):
            if rate:
                # Throttle: a chunk leaves only once the average rate allows all bytes up to its end.
                wait = ((sent + len(chunk)) / rate) - (time.monotonic() - began)
                if wait > 0 and engine.stop_event.wait(wait):
                    return
            self.wfile.write(chunk)
            sent += len(chunk)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # A client hanging up (a timed-out request, a test tearing down) is routine, not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class TwilioSimulator:
    """A local stand-in for Twilio: ``start()`` it, point the gateway at ``base_url``."""

    def __init__(self, config: SimConfig | None = None):
        self.engine = SimEngine(config or SimConfig())
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> SimConfig:
        return self.engine.config

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.engine.config.host}:{self.port}"

    def start(self) -> TwilioSimulator:
        handler = type("BoundSimRequestHandler", (SimRequestHandler,), {"engine": self.engine})
        self._server = _Server((self.engine.config.host, self.engine.config.port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), name="twilio-sim-http", daemon=True
        )
        self._thread.start()
        self.engine.start(self.base_url)
        return self

    def stop(self) -> None:
        self.engine.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> TwilioSimulator:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def configure(self, **changes) -> SimConfig:
        return self.engine.configure(**changes)

    def calls(self) -> list[dict]:
        return self.engine.calls_json()

    def call(self, sid: str) -> dict | None:
        call = self.engine.call(sid)
        return call.as_json() if call else None

    def recordings(self) -> list[dict]:
        return self.engine.recordings_json()

    def reset(self) -> None:
        self.engine.reset()

    def wait_for(self, predicate, timeout: float = 10.0, interval: float = 0.01) -> bool:
        """Polls ``predicate()`` until it is true (returns True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Waits until every call has ended and every callback has been sent."""
        return self.wait_for(self.engine.is_idle, timeout)
