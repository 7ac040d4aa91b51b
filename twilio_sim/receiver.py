"""A small HTTP server standing in for our webhooks when the simulator runs without Django:
it records every request Twilio (the simulator) makes and checks its signature with the
twilio library's RequestValidator. Used by tests and benchmarks of the simulator itself."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator

TWIML_RESPONSE = b'<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello from the simulator.</Say></Response>'


# How often serve_forever checks for shutdown (the default 0.5 s slows every stop()).
SHUTDOWN_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    params: dict[str, str]
    signature: str
    signature_valid: bool
    received_at: float


class CallbackReceiver:
    """Answers 200 (TwiML for paths containing ``twiml``), or ``status_code`` when set."""

    def __init__(self, auth_token: str, *, host: str = "127.0.0.1"):
        self.auth_token = auth_token
        self.status_code = 200
        self._requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                receiver._handle(self)

            def do_POST(self):
                receiver._handle(self)

        self._server = _QuietServer((host, 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), name="callback-receiver", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> CallbackReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        url = self.base_url + handler.path
        form = parse_qs(body, keep_blank_values=True) if handler.command == "POST" else {}
        signature = handler.headers.get("X-Twilio-Signature", "")
        # RequestValidator takes lists of values the way Django's QueryDict offers them.
        valid = bool(signature) and RequestValidator(self.auth_token).validate(url, _MultiDict(form), signature)
        record = ReceivedRequest(
            method=handler.command,
            path=handler.path,
            params={name: values[0] for name, values in form.items()},
            signature=signature,
            signature_valid=valid,
            received_at=time.time(),
        )
        with self._lock:
            self._requests.append(record)
        is_twiml = "twiml" in urlsplit(handler.path).path
        body_out = TWIML_RESPONSE if is_twiml else b""
        handler.send_response(self.status_code)
        handler.send_header("Content-Type", "application/xml" if is_twiml else "text/plain")
        handler.send_header("Content-Length", str(len(body_out)))
        handler.end_headers()
        handler.wfile.write(body_out)

    def requests(self, path_contains: str | None = None) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self._requests if path_contains is None or path_contains in r.path]

    def wait_for(self, count: int, path_contains: str | None = None, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Waits until ``count`` requests matched; returns what arrived by then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.requests(path_contains)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        return self.requests(path_contains)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The simulator hanging up after a callback is routine, not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _MultiDict(dict):
    def getlist(self, name):
        return self[name]
