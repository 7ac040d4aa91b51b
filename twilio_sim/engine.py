"""The simulated telephony: call lifecycles and recordings.

When a call is created its whole lifecycle is planned (outcome, when it rings, is answered,
ends). The scheduler applies each state change at its time; the callbacks it produces go to
``Callbacks``, which sends them as Twilio would.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from functools import partial

from twilio_sim.callbacks import Callbacks, Delivery, call_params
from twilio_sim.config import MACHINE_END_VALUES, SimConfig, chance, draw, sip_error
from twilio_sim.scheduler import Scheduler
from twilio_sim.state import API_VERSION, TERMINAL_STATUSES, SimCall, SimRecording, rfc2822
from twilio_sim.twiml import gather_in


class SimEngine:
    def __init__(self, config: SimConfig):
        self._config = config
        self._rng = random.Random(config.seed)
        # One lock for the whole simulated state: the scheduler thread, the senders and the
        # HTTP threads each see it as one consistent step.
        self._lock = threading.RLock()
        self._calls: dict[str, SimCall] = {}
        self._recordings: dict[str, SimRecording] = {}
        self._next_start = 0.0
        self._stopped = threading.Event()
        self._scheduler = Scheduler(self._lock, self._stopped)
        self._callbacks = Callbacks(
            lock=self._lock,
            scheduler=self._scheduler,
            config=lambda: self._config,
            on_call_flow_answer=self._call_flow_answered,
        )
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
        self._scheduler.stop()
        self._callbacks.shutdown()

    @property
    def stop_event(self) -> threading.Event:
        return self._stopped

    def chance(self, rate: float) -> bool:
        """A seeded draw for choices not tied to one call (e.g. a REST request's fault)."""
        with self._lock:
            return chance(rate, self._rng)

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
            ring = draw(rng, config.ring_delay_seconds) / scale
            answer_seconds = draw(rng, config.answer_delay_seconds)
            answer = answer_seconds / scale
            talk_seconds = draw(rng, config.talk_seconds)
            answered = outcome in ("completed", "keypress")
            if answered and answer_seconds > attributes["ring_timeout_seconds"]:
                # Nobody picks up before the caller's ring timeout (the Timeout parameter).
                outcome, answered = "no-answer", False
            call = SimCall(
                sid=sid,
                rng=rng,
                outcome=outcome,
                talk_seconds=talk_seconds,
                created_at=now,
                updated_at=now,
                last_due=now,
                queue_time_ms=round((start - now) * 1000),
                **attributes,
            )
            if answered:
                plan = [(0.0, "initiated"), (ring, "ringing"), (ring + answer, "in-progress")]
                if outcome == "completed" or not attributes["url"]:
                    # A keypress call ends when its TwiML does (see _call_flow_answered).
                    plan.append((ring + answer + talk_seconds / scale, "completed"))
            elif outcome == "busy":
                plan = [(0.0, "initiated"), (ring, "ringing"), (ring + answer, "busy")]
            elif outcome == "no-answer":
                plan = [(0.0, "initiated"), (ring, "ringing"), (ring + call.ring_timeout_seconds / scale, "no-answer")]
            else:
                plan = [(0.0, "initiated"), (ring, "failed")]
            self._calls[call.sid] = call
            for offset, event in plan:
                self._scheduler.at(start + offset, partial(self._transition, call, event))
            return call

    def update_call(self, sid: str, status: str) -> SimCall | None:
        """A REST update's ``Status``, as Twilio applies it: ``canceled`` ends a call not yet
        answered and leaves one in progress alone; ``completed`` hangs up a call in progress
        and cancels one not yet answered. Raises CallNotUpdatable for a call already ended."""
        with self._lock:
            call = self._calls.get(sid)
            if call is None:
                return None
            if call.status in TERMINAL_STATUSES:
                raise CallNotUpdatable(call)
            if call.status == "in-progress":
                if status == "completed":
                    call.ended_by_api = True
                    self._transition(call, "completed")
            else:
                call.ended_by_api = True
                self._transition(call, "canceled")
            return call

    def call(self, sid: str) -> SimCall | None:
        with self._lock:
            return self._calls.get(sid)

    def calls(self) -> list[SimCall]:
        with self._lock:
            return list(self._calls.values())

    def call_requests_sent(self, sid: str) -> list[dict]:
        """The requests made for a call so far, with their parameters (its Events list)."""
        with self._lock:
            call = self._calls.get(sid)
            return [dict(log) for log in call.callbacks if log["sent_at"] is not None] if call else []

    def recordings(self) -> list[SimRecording]:
        with self._lock:
            return list(self._recordings.values())

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
                self._scheduler.is_empty()
                and self._callbacks.is_idle()
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
            if recording.absent or recording.fetches <= config.recording_unavailable_fetches:
                return None
            if time.time() < recording.completed_at + config.recording_unavailable_seconds:
                return None
            return recording

    def recording(self, sid: str) -> SimRecording | None:
        with self._lock:
            return self._recordings.get(sid)

    # --- lifecycle (on the scheduler thread, or an update's HTTP thread, under the lock) --

    def _transition(self, call: SimCall, event: str) -> None:
        if call.status in TERMINAL_STATUSES:
            # Ended early by a REST update: the rest of its plan no longer happens.
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
                call.answered_by = self._answered_by(call)
            if call.record:
                self._start_recording(call, now)
            if call.url:
                self._callbacks.twiml_fetch(call, now)
        else:
            self._end(call, event, now)
        if call.status_callback and (event in TERMINAL_STATUSES or _requested(call, event)):
            final = event in TERMINAL_STATUSES and not _recording_follows(call)
            recording_url = self.recording_url(call.recording) if call.recording else ""
            self._callbacks.status(call, event, now, final=final, recording_url=recording_url)

    def _call_flow_answered(self, delivery: Delivery, http_status: int | None, body: str) -> None:
        """A "keypress" call follows its TwiML rather than a planned length: the callee presses
        the digit at the TwiML's <Gather> (Twilio then requests the Gather's action with the
        digits, signed like every request), and the call ends keypress_hangup_seconds after
        our server answered them. TwiML without a Gather is talked through for the planned
        talk time; a failed fetch ends the call at once, as Twilio hangs up on an error."""
        call = delivery.call
        if call.outcome != "keypress" or call.status != "in-progress":
            return
        now = time.time()
        config = self._config
        if delivery.kind == "gather":
            self._end_later(call, now + config.keypress_hangup_seconds / config.time_scale)
            return
        gather = gather_in(body, document_url=call.url) if http_status == 200 else None
        if gather is None:
            self._end_later(call, now + (call.talk_seconds / config.time_scale if http_status == 200 else 0))
            return
        call.pressed_digits = config.keypress_digit
        params = {**call_params(call, "in-progress"), "Digits": call.pressed_digits, "FinishedOnKey": ""}
        self._callbacks.gather(call, url=gather.action, method=gather.method, params=params, now=now)

    def _end_later(self, call: SimCall, when: float) -> None:
        call.ends_with_twiml = True
        self._scheduler.at(when, partial(self._transition, call, "completed"))

    def _answered_by(self, call: SimCall) -> str:
        config = self._config
        shares = config.answered_by
        if shares is None:
            shares = {"human": 1 - config.machine_rate, "machine_start": config.machine_rate}
        names = [name for name, weight in shares.items() if weight > 0]
        result = call.rng.choices(names, weights=[shares[n] for n in names])[0]
        # Each mode reports machines its own way: at the start of the greeting, or at its end.
        message_end = (call.machine_detection or "").lower() == "detectmessageend"
        if message_end and result == "machine_start":
            return "machine_end_other"
        if not message_end and result in MACHINE_END_VALUES:
            return "machine_start"
        return result

    def _end(self, call: SimCall, status: str, now: float) -> None:
        call.status = status
        call.ended_at = now
        if status == "completed":
            if call.ended_by_api or call.ends_with_twiml:
                # Hung up through the API, or when its TwiML ended: it lasted until now, in
                # simulated seconds.
                call.duration = round((now - call.answered_at) * self._config.time_scale)
            else:
                call.duration = round(call.talk_seconds)
        else:
            call.duration = 0
        call.sip_response_code = self._config.sip_response_codes[status]
        if status in ("busy", "no-answer", "failed"):
            call.error_code, call.error_message = sip_error(call.sip_response_code)
        recording = call.recording
        if recording is not None:
            recording.duration = call.duration or 0
            recording.status = "processing"
            recording.updated_at = now
            due = now + self._config.recording_delay_seconds / self._config.time_scale
            self._scheduler.at(due, partial(self._complete_recording, call))

    def _start_recording(self, call: SimCall, now: float) -> None:
        # Record=true records the call from the answer on, as one mono channel.
        recording = SimRecording(
            sid=f"RE{uuid.uuid4().hex}",
            call_sid=call.sid,
            account_sid=call.account_sid,
            duration=0,
            created_at=now,
            updated_at=now,
            absent=chance(self._config.recording_absent_rate, call.rng),
        )
        call.recording = recording
        self._recordings[recording.sid] = recording
        if call.recording_status_callback and "in-progress" in call.recording_status_callback_events:
            self._callbacks.recording(call, self._recording_params(call, "in-progress"), now, final=False)

    def _complete_recording(self, call: SimCall) -> None:
        now = time.time()
        recording = call.recording
        recording.updated_at = now
        if recording.absent:
            recording.status = "absent"
            recording.duration = 0
        else:
            recording.status = "completed"
            recording.completed_at = now
        if _recording_follows(call):
            self._callbacks.recording(call, self._recording_params(call, recording.status), now, final=True)

    def _recording_params(self, call: SimCall, status: str) -> dict:
        recording = call.recording
        params = {
            "AccountSid": call.account_sid,
            "CallSid": call.sid,
            "RecordingSid": recording.sid,
            "RecordingUrl": self.recording_url(recording),
            "RecordingStatus": status,
            "RecordingChannels": "1",
            "RecordingSource": "OutboundAPI",
            "RecordingStartTime": rfc2822(recording.created_at),
            "RecordingTrack": "both",
        }
        if status in ("completed", "absent"):
            params["RecordingDuration"] = str(recording.duration)
            params["ErrorCode"] = "0"
        return params

    def recording_url(self, recording: SimRecording) -> str:
        return f"{self.base_url}/{API_VERSION}/Accounts/{recording.account_sid}/Recordings/{recording.sid}"


class CallNotUpdatable(Exception):
    def __init__(self, call: SimCall):
        super().__init__(call.sid)
        self.call = call


def _requested(call: SimCall, event: str) -> bool:
    if event == "in-progress":
        return "answered" in call.status_callback_events
    return event in call.status_callback_events


def _recording_follows(call: SimCall) -> bool:
    """Will a recording callback end this call's requests (after its final status)?"""
    recording = call.recording
    if recording is None or not call.recording_status_callback:
        return False
    final_event = "absent" if recording.absent else "completed"
    return final_event in call.recording_status_callback_events
