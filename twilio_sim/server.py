"""The simulator as one object: ``TwilioSimulator(config).start()``, then point the gateway at
``base_url``. Tests and benchmarks drive it in process; ``manage.py twilio_sim`` runs it."""

from __future__ import annotations

import threading
import time

from twilio_sim.config import SimConfig
from twilio_sim.engine import SimEngine
from twilio_sim.httpd import SimHttpServer, SimRequestHandler

# How often serve_forever checks for shutdown (the default 0.5 s slows every stop()).
SHUTDOWN_POLL_SECONDS = 0.05


class TwilioSimulator:
    """A local stand-in for Twilio: ``start()`` it, point the gateway at ``base_url``."""

    def __init__(self, config: SimConfig | None = None):
        self.engine = SimEngine(config or SimConfig())
        self._server: SimHttpServer | None = None
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
        self._server = SimHttpServer((self.engine.config.host, self.engine.config.port), handler)
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
