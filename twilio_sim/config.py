"""What the simulator does: outcomes, durations, rate limits and faults.

Durations of the call lifecycle (``ring_delay_seconds``, ``answer_delay_seconds``,
``talk_seconds``, ``recording_delay_seconds``, ``callback_delay_seconds``) are *simulated*
seconds: they pass ``time_scale`` times faster in real time, and are what the callbacks and the
REST resources report (CallDuration, RecordingDuration). Settings that test how a client copes
with a slow or unavailable server (``hang_seconds``, ``recording_unavailable_seconds``,
``recording_bytes_per_second``) are real wall-clock values, unscaled.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

SIM_ACCOUNT_SID = "AC" + "5" * 32
SIM_AUTH_TOKEN = "simulator-auth-token-0000000000000"  # noqa: S105 - a public, local-only token
SIM_FROM_NUMBER = "+15005550006"

# How a dialed call ends by itself. "canceled" is not one: at Twilio only a REST update
# (Status=canceled, or completed before the answer) cancels a call.
# "keypress": answered, and the callee presses keypress_digit at the TwiML's <Gather> (the
# call then ends completed, like an answered one).
CALL_OUTCOMES = ("completed", "busy", "no-answer", "failed", "keypress")
FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
RATE_LIMIT_MODES = ("queue", "reject")
CALLBACK_FAULT_EVENTS = ("initiated", "ringing", "in-progress", *FINAL_STATUSES, "recording")
# AnsweredBy values per MachineDetection mode, as Twilio's answering-machine detection reports them.
ANSWERED_BY_VALUES = (
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
)
MACHINE_END_VALUES = ("machine_end_beep", "machine_end_silence", "machine_end_other")
# SIP response code of each way a call ends (SipResponseCode); 200 is an answered call.
DEFAULT_SIP_RESPONSE_CODES = {"completed": 200, "busy": 486, "no-answer": 487, "failed": 404, "canceled": 487}
# Twilio's own error for a call that ended on a SIP error: 31000 + the SIP code, with the
# SIP reason phrase (Twilio's errors 31404 "Not Found", 31486 "Busy Here", ...).
SIP_REASON_PHRASES = {
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated",
    500: "Server Internal Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
}

# A duration is a number or an inclusive (low, high) range drawn uniformly per call.
Duration = float | tuple[float, float]


def _check_rate(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


def _check_duration(name: str, value) -> None:
    values = value if isinstance(value, tuple | list) else (value,)
    if len(values) not in (1, 2) or any(not isinstance(v, int | float) or v < 0 for v in values):
        raise ValueError(f"{name} must be a non-negative number or a (low, high) pair, got {value!r}")


@dataclass(frozen=True)
class SimConfig:
    account_sid: str = SIM_ACCOUNT_SID
    auth_token: str = SIM_AUTH_TOKEN
    host: str = "127.0.0.1"
    port: int = 0
    # Seeds every random choice (outcomes, faults, durations drawn from ranges).
    seed: int | None = None

    # --- lifecycle ---------------------------------------------------------------------
    time_scale: float = 1.0
    # Weights of the terminal outcomes, e.g. {"completed": 8, "busy": 1, "no-answer": 1}.
    outcomes: dict[str, float] = field(default_factory=lambda: {"completed": 1.0})
    # Fixed outcome per destination number, overriding the weights.
    outcomes_by_number: dict[str, str] = field(default_factory=dict)
    ring_delay_seconds: Duration = 1.0
    answer_delay_seconds: Duration = 3.0
    talk_seconds: Duration = 10.0
    # Share of machine-detected answers that are machines (AnsweredBy=machine_start), when
    # answered_by is not given.
    machine_rate: float = 0.0
    # Weights of the AnsweredBy results of calls made with MachineDetection, e.g.
    # {"human": 6, "machine_start": 1, "machine_end_beep": 1, "fax": 1, "unknown": 1}. Like
    # Twilio, "Enable" reports machine_start for every machine and "DetectMessageEnd" one of
    # machine_end_beep / _silence / _other (machine_start drawn there becomes machine_end_other).
    answered_by: dict[str, float] | None = None
    # SipResponseCode per final status (see DEFAULT_SIP_RESPONSE_CODES); failed, busy and
    # no-answer callbacks also carry ErrorCode 31000 + the code and its ErrorMessage.
    sip_response_codes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SIP_RESPONSE_CODES))
    # The digit pressed by callees of the "keypress" outcome (Gather's Digits), and how long
    # the call goes on once our server has answered the digits (its confirmation) before it
    # ends, in simulated seconds.
    keypress_digit: str = "9"
    keypress_hangup_seconds: float = 3.0
    # Well-formed numbers that still answer 400 / 21211 (Twilio's test number +15005550001 always does).
    invalid_numbers: frozenset[str] = frozenset()

    # --- REST API behaviour ------------------------------------------------------------
    # Calls per second the account may start; None is unlimited. Beyond it Twilio queues the
    # call ("queue") - or, in "reject" mode, answers 429 with code 20429.
    calls_per_second: float | None = None
    rate_limit_mode: str = "queue"
    # Share of REST requests answered 500 / 20500.
    server_error_rate: float = 0.0
    # Every REST request waits this long (real seconds) before answering.
    hang_seconds: float = 0.0

    # --- callback faults ---------------------------------------------------------------
    callback_drop_rate: float = 0.0
    callback_duplicate_rate: float = 0.0
    # Share of callbacks held back and delivered after the call's next callback.
    callback_reorder_rate: float = 0.0
    # Share of callbacks delivered callback_delay_seconds (simulated) late; later callbacks of
    # the same call wait behind it unless reordering is also configured.
    callback_delay_rate: float = 0.0
    callback_delay_seconds: float = 0.0
    # Restricts the callback faults to these events (CallStatus values or "recording");
    # None applies them to every callback.
    callback_fault_events: frozenset[str] | None = None
    # Real seconds the simulator waits for our server to answer a callback or TwiML fetch.
    callback_timeout_seconds: float = 15.0

    # --- recordings --------------------------------------------------------------------
    recording_delay_seconds: float = 1.0
    # Media size in bytes; None derives it from the recorded duration.
    recording_size_bytes: int | None = None
    # The first N fetches of each recording's media answer 404.
    recording_unavailable_fetches: int = 0
    # Media answers 404 for this many real seconds after the recording completed.
    recording_unavailable_seconds: float = 0.0
    # Media is streamed at this many bytes per second (None: as fast as possible).
    recording_bytes_per_second: float | None = None
    # Share of recordings Twilio ends up without (too short or silent): RecordingStatus=absent,
    # the resource says "absent" and its media answers 404.
    recording_absent_rate: float = 0.0

    def __post_init__(self):
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        unknown = set(self.outcomes) - set(CALL_OUTCOMES)
        if unknown or not self.outcomes or any(w < 0 for w in self.outcomes.values()):
            raise ValueError(f"outcomes must weigh some of {CALL_OUTCOMES}, got {self.outcomes!r}")
        if sum(self.outcomes.values()) <= 0:
            raise ValueError("outcomes must have a positive total weight")
        bad = {n: o for n, o in self.outcomes_by_number.items() if o not in CALL_OUTCOMES}
        if bad:
            raise ValueError(f"outcomes_by_number names unknown outcomes: {bad!r}")
        if self.answered_by is not None:
            unknown_results = set(self.answered_by) - set(ANSWERED_BY_VALUES)
            weights = self.answered_by.values()
            if unknown_results or any(w < 0 for w in weights) or sum(weights) <= 0:
                raise ValueError(f"answered_by must weigh some of {ANSWERED_BY_VALUES}, got {self.answered_by!r}")
        bad_sip = {
            k: v
            for k, v in self.sip_response_codes.items()
            if k not in FINAL_STATUSES or not isinstance(v, int) or not 100 <= v <= 699
        }
        if bad_sip or set(self.sip_response_codes) != set(FINAL_STATUSES):
            raise ValueError(f"sip_response_codes must give a SIP code (100-699) for each of {FINAL_STATUSES}")
        if not (len(self.keypress_digit) == 1 and self.keypress_digit in "0123456789*#"):
            raise ValueError(f"keypress_digit must be one of 0-9, * or #, got {self.keypress_digit!r}")
        if self.rate_limit_mode not in RATE_LIMIT_MODES:
            raise ValueError(f"rate_limit_mode must be one of {RATE_LIMIT_MODES}")
        if self.calls_per_second is not None and self.calls_per_second <= 0:
            raise ValueError("calls_per_second must be positive or None")
        for name in ("ring_delay_seconds", "answer_delay_seconds", "talk_seconds"):
            _check_duration(name, getattr(self, name))
        for name in (
            "machine_rate",
            "server_error_rate",
            "callback_drop_rate",
            "callback_duplicate_rate",
            "callback_reorder_rate",
            "callback_delay_rate",
            "recording_absent_rate",
        ):
            _check_rate(name, getattr(self, name))
        for name in (
            "hang_seconds",
            "callback_delay_seconds",
            "recording_delay_seconds",
            "recording_unavailable_seconds",
            "recording_unavailable_fetches",
            "keypress_hangup_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.callback_timeout_seconds <= 0:
            raise ValueError("callback_timeout_seconds must be positive")
        if self.recording_size_bytes is not None and self.recording_size_bytes < 1024:
            raise ValueError("recording_size_bytes must be at least 1024")
        if self.recording_bytes_per_second is not None and self.recording_bytes_per_second <= 0:
            raise ValueError("recording_bytes_per_second must be positive or None")
        if self.callback_fault_events is not None:
            unknown_events = set(self.callback_fault_events) - set(CALLBACK_FAULT_EVENTS)
            if unknown_events:
                raise ValueError(f"callback_fault_events has unknown events {sorted(unknown_events)}")

    def with_changes(self, **changes) -> SimConfig:
        """A copy with ``changes`` applied and validated; JSON lists become tuples/sets."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown simulator settings: {sorted(unknown)}")
        for name in ("ring_delay_seconds", "answer_delay_seconds", "talk_seconds"):
            if isinstance(changes.get(name), list):
                changes[name] = tuple(changes[name])
        for name in ("invalid_numbers", "callback_fault_events"):
            if changes.get(name) is not None:
                changes[name] = frozenset(changes[name])
        if changes.get("sip_response_codes") is not None:
            # A partial map changes only the statuses it names.
            changes["sip_response_codes"] = {**self.sip_response_codes, **changes["sip_response_codes"]}
        return dataclasses.replace(self, **changes)

    def as_json(self) -> dict:
        data = dataclasses.asdict(self)
        data.pop("auth_token")
        for name in ("invalid_numbers", "callback_fault_events"):
            if data[name] is not None:
                data[name] = sorted(data[name])
        return data


def sip_error(sip_code: int) -> tuple[str, str]:
    """(ErrorCode, ErrorMessage) Twilio reports for a call ended by ``sip_code``."""
    return str(31000 + sip_code), SIP_REASON_PHRASES.get(sip_code, f"SIP {sip_code}")


def chance(rate: float, rng: random.Random) -> bool:
    """True for a share ``rate`` of draws (never for 0, without consuming a draw)."""
    return rate > 0 and rng.random() < rate


def draw(rng: random.Random, duration: Duration) -> float:
    """One duration: the number, or a uniform draw from the (low, high) range."""
    if isinstance(duration, tuple | list):
        return rng.uniform(duration[0], duration[1])
    return float(duration)
