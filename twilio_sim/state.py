"""What the simulator knows about each call and recording, and how it reports them on
``/_sim/calls`` and ``/_sim/recordings`` (timelines for tests, not Twilio's resources)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twilio_sim.callbacks import Delivery

API_VERSION = "2010-04-01"
TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def rfc2822(moment: float | None) -> str | None:
    return None if moment is None else formatdate(moment, usegmt=False).replace("-0000", "+0000")


@dataclass
class SimRecording:
    sid: str
    call_sid: str
    account_sid: str
    duration: int
    created_at: float
    # Twilio's recording status: in-progress while the call talks, processing after it, then
    # completed, or absent when Twilio ends up without audio (media answers 404).
    status: str = "in-progress"
    absent: bool = False
    completed_at: float | None = None
    updated_at: float | None = None
    fetches: int = 0

    def as_json(self) -> dict:
        return {
            "sid": self.sid,
            "call_sid": self.call_sid,
            "duration": self.duration,
            "status": self.status,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "absent": self.absent,
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
    recording_status_callback_events: frozenset[str]
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
    # Milliseconds the call waited behind the account's calls-per-second limit (queue_time).
    queue_time_ms: int = 0
    # How it ended: SipResponseCode, and Twilio's ErrorCode / ErrorMessage for SIP errors.
    sip_response_code: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    # What the callee pressed at the TwiML's <Gather> ("keypress" outcome).
    pressed_digits: str | None = None
    # Its length follows its TwiML (keypress calls), not the planned talk time.
    ends_with_twiml: bool = False
    # Set by a REST update that ended the call (canceled before the answer, hung up after).
    ended_by_api: bool = False
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
            "queue_time_ms": self.queue_time_ms,
            "sip_response_code": self.sip_response_code,
            "error_code": self.error_code,
            "ended_by_api": self.ended_by_api,
            "pressed_digits": self.pressed_digits,
            "url": self.url,
            "status_callback": self.status_callback,
            "status_callback_events": sorted(self.status_callback_events),
            "record": self.record,
            "recording_status_callback": self.recording_status_callback,
            "recording_sid": self.recording.sid if self.recording else None,
            "machine_detection": self.machine_detection,
            "twiml": dict(self.twiml) if self.twiml else None,
            # Each request's parameters ("_params") stay out of the timelines: they serve the
            # call's Events list only.
            "callbacks": [{k: v for k, v in entry.items() if k != "_params"} for entry in self.callbacks],
        }
