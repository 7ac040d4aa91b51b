"""HTTP plumbing of the simulator: a threaded server, JSON answers, Twilio's error bodies,
and the split between Twilio's API and the ``/_sim/*`` control endpoints."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from twilio_sim.control import handle_control
from twilio_sim.engine import SimEngine
from twilio_sim.errors import TwilioApiError
from twilio_sim.rest_api import handle_api

logger = logging.getLogger(__name__)


class SimRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TwilioSimulator/1.0"
    # Headers and body leave in separate writes; with Nagle's algorithm on, keep-alive
    # clients would wait for a delayed ACK (~40 ms) on every response.
    disable_nagle_algorithm = True
    engine: SimEngine  # set on the subclass made per simulator

    def log_message(self, format, *args):
        pass

    def send_json(self, status: int, payload, headers: dict | None = None) -> None:
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
        self.send_json(error.http_status, error.payload, headers)

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            if parts.path.startswith("/_sim/"):
                handle_control(self, method, parts.path, query, body)
            else:
                handle_api(self, method, parts.path, query, body)
        except TwilioApiError as error:
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            # Whatever a client sends, it gets Twilio's generic error rather than a dropped connection.
            logger.exception("simulator failed to handle %s %s", method, self.path)
            self._send_error(TwilioApiError(500, 20500, "An internal server error has occurred"))


class SimHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # A client hanging up (a timed-out request, a test tearing down) is routine, not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)
