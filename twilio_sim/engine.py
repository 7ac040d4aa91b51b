"""The simulated telephony: call lifecycles, recordings and the callbacks Twilio would send.

When a call is created its whole lifecycle is planned (outcome, when it rings, is answered,
ends). One scheduler thread applies each state change at its time and queues the callbacks
it produces; a pool of senders delivers them, one call's callbacks strictly one after the
other (in their planned order, which faults may change), different calls in parallel.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import urlencode

import requests
from twilio.request_validator import RequestValidator

from twilio_sim.config import SimConfig

TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
API_VERSION = "2010-04-01"


def rfc2822(moment: float | None) -> str | None:
    return None if moment is None else formatdate(moment, usegmt=False).replace("-0000", "+0000")


@dataclass
class SimRecording:
    sid: str
    call_sid: str
    account_sid: str
    duration: int
    created_at: float
    completed_at: float | None = None
    missing: bool = False
    fetches: int = 0

    def as_json(self) -> dict:
        return {
            "sid": self.sid,
            "call_sid": self.call_sid,
            "duration": self.duration,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "missing": self.missing,
            "fetches": self.fetches,
        }


@dataclass
class SimCall:
    sid: str
    account_sid: str
    to: str
    from_: str
    url: str | None
    method: str
    status_callback: str | None
    status_callback_method: str
    status_callback_events: frozenset[str]
    record: bool
    recording_status_callback: str | None
    recording_status_callback_method: str
    machine_detection: str | None
    ring_timeout_seconds: int
    outcome: str
    talk_seconds: float
    created_at: float
    # The call's own random source: its choices do not depend on how other calls interleave.
    rng: random.Random = field(repr=False)
    status: str = "queued"
    started_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    updated_at: float | None = None
    duration: int | None = None
    answered_by: str | None = None
    next_sequence: int = 0
    last_due: float = 0.0
    held: Delivery | None = None
    callbacks: list[dict] = field(default_factory=list)
    twiml: dict | None = None
    recording: SimRecording | None = None

    def as_json(self) -> dict:
        return {
            "sid": self.sid,
            "to": self.to,
            "from": self.from_,
            "status": self.status,
            "outcome": self.outcome,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "duration": self.duration,
            "answered_by": self.answered_by,
            "url": self.url,
            "status_callback": self.status_callback,
            "status_callback_events": sorted(self.status_callback_events),
            "record": self.record,
            "recording_status_callback": self.recording_status_callback,
            "recording_sid": self.recording.sid if self.recording else None,
            "machine_detection": self.machine_detection,
            "twiml": dict(self.twiml) if self.twiml else None,
            "callbacks": [dict(entry) for entry in self.callbacks],
        }


@dataclass
class Delivery:
    """One HTTP request the simulator makes to our server. ``log`` is its entry in the
    call's ``callbacks`` list, filled in when it is sent."""

    call_sid: str
    kind: str  # "status", "recording" or "twiml"
    url: str
    method: str
    params: dict
    signature: str
    due: float
    log: dict


class SimEngine:
    def __init__(self, config: SimConfig):
        self._config = config
        self._rng = random.Random(config.seed)
        self._lock = threading.RLock()
        self._wakeup = threading.Condition(self._lock)
        self._calls: dict[str, SimCall] = {}
        self._recordings: dict[str, SimRecording] = {}
        self._heap: list[tuple[float, int, str, object]] = []
        self._counter = itertools.count()
        self._pending: dict[str, deque[Delivery]] = {}
        self._sending: set[str] = set()
        self._next_start = 0.0
        self._stopped = threading.Event()
        self._local = threading.local()
        self._senders = ThreadPoolExecutor(max_workers=64, thread_name_prefix="twilio-sim-callback")
        self._scheduler = threading.Thread(target=self._run_scheduler, name="twilio-sim-scheduler", daemon=True)
        self.base_url = ""

    # --- configuration --------------------------------------------------------------------

    @property
    def config(self) -> SimConfig:
        return self._config

    def configure(self, **changes) -> SimConfig:
        with self._lock:
            new = self._config.with_changes(**changes)
            if "seed" in changes:
                self._rng = random.Random(new.seed)
            self._config = new
            return new

    def start(self, base_url: str) -> None:
        self.base_url = base_url
        self._scheduler.start()

    def stop(self) -> None:
        self._stopped.set()
        with self._wakeup:
            self._wakeup.notify_all()
        if self._scheduler.is_alive():
            self._scheduler.join(timeout=5)
        self._senders.shutdown(wait=False, cancel_futures=True)

    @property
    def stop_event(self) -> threading.Event:
        return self._stopped

    # --- random choices (seeded) ----------------------------------------------------------

    def chance(self, rate: float, rng: random.Random | None = None) -> bool:
        with self._lock:
            return rate > 0 and (rng or self._rng).random() < rate

    @staticmethod
    def _draw(rng: random.Random, duration) -> float:
        if isinstance(duration, tuple | list):
            return rng.uniform(duration[0], duration[1])
        return float(duration)

    # --- calls ----------------------------------------------------------------------------

    def rate_limited(self, now: float) -> bool:
        """In reject mode: would a call created now exceed the account's calls per second?"""
        config = self._config
        if config.calls_per_second is None or config.rate_limit_mode != "reject":
            return False
        with self._lock:
            if now + 1e-6 < self._next_start:
                return True
            self._next_start = now + 1.0 / config.calls_per_second
            return False

    def create_call(self, **attributes) -> SimCall:
        with self._lock:
            config = self._config
            now = time.time()
            start = now
            if config.calls_per_second is not None and config.rate_limit_mode == "queue":
                # Twilio queues calls beyond the account's rate and dials them in turn.
                start = max(now, self._next_start)
                self._next_start = start + 1.0 / config.calls_per_second
            sid = f"CA{uuid.uuid4().hex}"
            rng = random.Random(self._rng.getrandbits(64))
            outcome = config.outcomes_by_number.get(attributes["to"])
            if outcome is None:
                names = list(config.outcomes)
                outcome = rng.choices(names, weights=[config.outcomes[n] for n in names])[0]
            scale = config.time_scale
            ring = self._draw(rng, config.ring_delay_seconds) / scale
            answer_seconds = self._draw(rng, config.answer_delay_seconds)
            answer = answer_seconds / scale
            talk_seconds = self._draw(rng, config.talk_seconds)
            if outcome == "completed" and answer_seconds > attributes["ring_timeout_seconds"]:
                # Nobody picks up before the caller's ring timeout (the Timeout parameter).
                outcome = "no-answer"
            call = SimCall(
                sid=sid,
                rng=rng,
                outcome=outcome,
                talk_seconds=talk_seconds,
                created_at=now,
                updated_at=now,
                last_due=now,
                **attributes,
            )
            if outcome == "completed":
                plan = [
                    (0.0, "initiated"),
                    (ring, "ringing"),
                    (ring + answer, "in-progress"),
                    (ring + answer + talk_seconds / scale, "completed"),
                ]
            elif outcome == "busy":
                plan = [(0.0, "initiated"), (ring, "ringing"), (ring + answer, "busy")]
            elif outcome == "no-answer":
                plan = [(0.0, "initiated"), (ring, "ringing"), (ring + call.ring_timeout_seconds / scale, "no-answer")]
            elif outcome == "failed":
                plan = [(0.0, "initiated"), (ring, "failed")]
            else:
                plan = [(0.0, "initiated"), (ring, "ringing"), (ring + answer / 2, "canceled")]
            self._calls[call.sid] = call
            for offset, event in plan:
                self._schedule(start + offset, "transition", (call.sid, event))
            return call

    def call(self, sid: str) -> SimCall | None:
        with self._lock:
            return self._calls.get(sid)

    def calls(self) -> list[SimCall]:
        with self._lock:
            return list(self._calls.values())

    def calls_json(self) -> list[dict]:
        with self._lock:
            return [call.as_json() for call in self._calls.values()]

    def recordings_json(self) -> list[dict]:
        with self._lock:
            return [recording.as_json() for recording in self._recordings.values()]

    def reset(self) -> None:
        """Forget finished calls and recordings (calls in progress carry on)."""
        with self._lock:
            for sid in [s for s, c in self._calls.items() if c.status in TERMINAL_STATUSES]:
                call = self._calls.pop(sid)
                if call.recording:
                    self._recordings.pop(call.recording.sid, None)

    def is_idle(self) -> bool:
        with self._lock:
            return (
                not self._heap
                and not self._pending
                and not self._sending
                and all(c.status in TERMINAL_STATUSES and c.held is None for c in self._calls.values())
            )

    # --- recordings -----------------------------------------------------------------------

    def recording_for_fetch(self, sid: str) -> SimRecording | None:
        """The recording if its media may be served now; counts the fetch either way."""
        with self._lock:
            recording = self._recordings.get(sid)
            if recording is None or recording.completed_at is None:
                return None
            recording.fetches += 1
            config = self._config
            if recording.missing or recording.fetches <= config.recording_unavailable_fetches:
                return None
            if time.time() < recording.completed_at + config.recording_unavailable_seconds:
                return None
            return recording

    def recording(self, sid: str) -> SimRecording | None:
        with self._lock:
            return self._recordings.get(sid)

    # --- scheduler ------------------------------------------------------------------------

    def _schedule(self, when: float, kind: str, payload) -> None:
        with self._wakeup:
            heapq.heappush(self._heap, (when, next(self._counter), kind, payload))
            self._wakeup.notify()

    def _run_scheduler(self) -> None:
        while not self._stopped.is_set():
            with self._wakeup:
                now = time.time()
                if not self._heap or self._heap[0][0] > now:
                    timeout = (self._heap[0][0] - now) if self._heap else 0.5
                    self._wakeup.wait(timeout=min(timeout, 0.5))
                    continue
                _, _, kind, payload = heapq.heappop(self._heap)
                if kind == "transition":
                    self._transition(*payload)
                elif kind == "recording":
                    self._complete_recording(payload)
                else:
                    self._hand_to_sender(payload)

    def _transition(self, call_sid: str, event: str) -> None:
        call = self._calls.get(call_sid)
        if call is None:
            return
        now = time.time()
        call.updated_at = now
        if event == "initiated":
            call.started_at = now
        elif event == "ringing":
            call.status = "ringing"
        elif event == "in-progress":
            call.status = "in-progress"
            call.answered_at = now
            if call.machine_detection:
                call.answered_by = "machine_start" if self.chance(self._config.machine_rate, call.rng) else "human"
            if call.url:
                self._queue_twiml_fetch(call, now)
        else:
            call.status = event
            call.ended_at = now
            call.duration = round(call.talk_seconds) if event == "completed" else 0
        if call.status_callback and (event in TERMINAL_STATUSES or _requested(call, event)):
            expects_recording = call.record and event == "completed" and bool(call.recording_status_callback)
            self._queue_status_callback(call, event, now, final=event in TERMINAL_STATUSES and not expects_recording)
        if event == "completed" and call.record:
            recording = SimRecording(
                sid=f"RE{uuid.uuid4().hex}",
                call_sid=call.sid,
                account_sid=call.account_sid,
                duration=call.duration or 0,
                created_at=now,
                missing=self.chance(self._config.recording_missing_rate, call.rng),
            )
            call.recording = recording
            self._recordings[recording.sid] = recording
            self._schedule(now + self._config.recording_delay_seconds / self._config.time_scale, "recording", call.sid)

    def _complete_recording(self, call_sid: str) -> None:
        call = self._calls.get(call_sid)
        if call is None or call.recording is None:
            return
        now = time.time()
        recording = call.recording
        recording.completed_at = now
        if not call.recording_status_callback:
            return
        params = {
            "AccountSid": call.account_sid,
            "CallSid": call.sid,
            "RecordingSid": recording.sid,
            "RecordingUrl": f"{self.base_url}/{API_VERSION}/Accounts/{call.account_sid}/Recordings/{recording.sid}",
            "RecordingStatus": "completed",
            "RecordingDuration": str(recording.duration),
            "RecordingChannels": "1",
            "RecordingSource": "OutboundAPI",
            "RecordingStartTime": rfc2822(call.answered_at),
            "ErrorCode": "0",
        }
        self._queue_callback(
            call,
            kind="recording",
            event="recording",
            url=call.recording_status_callback,
            method=call.recording_status_callback_method,
            params=params,
            due=now,
            final=True,
        )

    # --- callbacks ------------------------------------------------------------------------

    def _call_params(self, call: SimCall, status: str) -> dict:
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
        }
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        return params

    def _queue_twiml_fetch(self, call: SimCall, now: float) -> None:
        # Fetched before the answered callback goes out, as Twilio does; not subject to faults.
        params = self._call_params(call, "in-progress")
        self._enqueue(self._delivery(call, "twiml", "twiml", call.url, call.method, params, now))

    def _queue_status_callback(self, call: SimCall, event: str, now: float, *, final: bool) -> None:
        params = self._call_params(call, event)
        params.update(
            {
                "SequenceNumber": str(call.next_sequence),
                "Timestamp": rfc2822(now),
                "CallbackSource": "call-progress-events",
            }
        )
        call.next_sequence += 1
        if event in TERMINAL_STATUSES:
            params["CallDuration"] = str(call.duration or 0)
            params["Duration"] = str(-(-(call.duration or 0) // 60))
        self._queue_callback(
            call,
            kind="status",
            event=event,
            url=call.status_callback,
            method=call.status_callback_method,
            params=params,
            due=now,
            final=final,
        )

    def _delivery(self, call, kind, event, url, method, params, due, fault=None) -> Delivery:
        if method == "GET":
            separator = "&" if "?" in url else "?"
            url = url + separator + urlencode(params)
            signed_params = {}
        else:
            signed_params = params
        signature = RequestValidator(self._config.auth_token).compute_signature(url, signed_params)
        log = {
            "kind": kind,
            "event": event,
            "sequence": int(params["SequenceNumber"]) if "SequenceNumber" in params else None,
            "url": url,
            "due_at": due,
            "sent_at": None,
            "http_status": None,
            "error": None,
            "fault": fault,
        }
        call.callbacks.append(log)
        return Delivery(call.sid, kind, url, method, params, signature, due, log)

    def _queue_callback(self, call, *, kind, event, url, method, params, due, final) -> None:
        config = self._config
        faulty = config.callback_fault_events is None or event in config.callback_fault_events
        if faulty and self.chance(config.callback_drop_rate, call.rng):
            self._delivery(call, kind, event, url, method, params, due, fault="dropped")
            # A dropped final callback still releases one held back before it.
            if final and call.held is not None:
                self._release_held(call, due)
            return
        fault = None
        if faulty and self.chance(config.callback_delay_rate, call.rng):
            due += config.callback_delay_seconds / config.time_scale
            fault = "delayed"
        reorder = faulty and not final and call.held is None and self.chance(config.callback_reorder_rate, call.rng)
        if reorder:
            fault = "reordered"
        delivery = self._delivery(call, kind, event, url, method, params, due, fault=fault)
        duplicate = None
        if faulty and self.chance(config.callback_duplicate_rate, call.rng):
            duplicate = Delivery(**{**delivery.__dict__, "log": {**delivery.log, "fault": "duplicate"}})
            call.callbacks.append(duplicate.log)
        if reorder:
            # Held back until the call's next callback has been queued, then sent after it.
            call.held = delivery
            if duplicate is not None:
                self._enqueue(duplicate)
            return
        self._enqueue(delivery)
        if duplicate is not None:
            self._enqueue(duplicate)
        if call.held is not None:
            self._release_held(call, delivery.due)

    def _release_held(self, call: SimCall, due: float) -> None:
        held, call.held = call.held, None
        held.due = max(held.due, due)
        held.log["due_at"] = held.due
        self._enqueue(held)

    def _enqueue(self, delivery: Delivery) -> None:
        call = self._calls[delivery.call_sid]
        # One call's callbacks leave in the order queued: a later one never overtakes a
        # delayed one unless reordering put it first.
        delivery.due = max(delivery.due, call.last_due)
        delivery.log["due_at"] = delivery.due
        call.last_due = delivery.due
        self._schedule(delivery.due, "deliver", delivery)

    def _hand_to_sender(self, delivery: Delivery) -> None:
        self._pending.setdefault(delivery.call_sid, deque()).append(delivery)
        if delivery.call_sid not in self._sending:
            self._sending.add(delivery.call_sid)
            self._senders.submit(self._drain, delivery.call_sid)

    def _drain(self, call_sid: str) -> None:
        while True:
            with self._lock:
                queue = self._pending.get(call_sid)
                if not queue:
                    self._pending.pop(call_sid, None)
                    self._sending.discard(call_sid)
                    return
                delivery = queue.popleft()
            self._send(delivery)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send(self, delivery: Delivery) -> None:
        headers = {"X-Twilio-Signature": delivery.signature, "User-Agent": "TwilioProxy/1.1"}
        timeout = self._config.callback_timeout_seconds
        sent_at = time.time()
        status = error = None
        body = ""
        try:
            if delivery.method == "GET":
                response = self._session().get(delivery.url, headers=headers, timeout=timeout)
            else:
                response = self._session().post(delivery.url, data=delivery.params, headers=headers, timeout=timeout)
            status = response.status_code
            body = response.text[:2000]
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            delivery.log.update(sent_at=sent_at, http_status=status, error=error)
            if delivery.kind == "twiml":
                call = self._calls.get(delivery.call_sid)
                if call is not None:
                    call.twiml = {"fetched_at": sent_at, "http_status": status, "error": error, "body": body}


def _requested(call: SimCall, event: str) -> bool:
    if event == "in-progress":
        return "answered" in call.status_callback_events
    return event in call.status_callback_events
