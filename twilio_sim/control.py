"""``/_sim/*``: the simulator's own endpoints (timelines, settings at runtime, reset)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twilio_sim.httpd import SimRequestHandler


def handle_control(request: SimRequestHandler, method: str, path: str, query: dict, body: bytes) -> None:
    engine = request.engine
    if path == "/_sim/calls" and method == "GET":
        calls = engine.calls_json()
        if "to" in query:
            calls = [c for c in calls if c["to"] in set(query["to"])]
        if "callback_contains" in query:
            needle = query["callback_contains"][0]
            calls = [c for c in calls if needle in (c["status_callback"] or "")]
        request.send_json(200, calls)
    elif path == "/_sim/recordings" and method == "GET":
        request.send_json(200, engine.recordings_json())
    elif path == "/_sim/config" and method == "GET":
        request.send_json(200, engine.config.as_json())
    elif path == "/_sim/config" and method == "POST":
        try:
            changes = json.loads(body or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object of settings")
            config = engine.configure(**changes)
        except (ValueError, TypeError) as exc:
            request.send_json(400, {"error": str(exc)})
            return
        request.send_json(200, config.as_json())
    elif path == "/_sim/reset" and method == "POST":
        engine.reset()
        request.send_json(200, {"ok": True})
    else:
        request.send_json(404, {"error": f"unknown simulator endpoint {method} {path}"})
