"""The HTTP requests the simulator makes to our server, as Twilio does: signed with the
account's auth token, one call's requests strictly one after the other (in their planned
order, which faults may change), different calls in parallel on a pool of senders."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from urllib.parse import urlencode

import certifi
import phonenumbers
import urllib3
from twilio.request_validator import RequestValidator

from twilio_sim.config import SimConfig, chance
from twilio_sim.scheduler import Scheduler
from twilio_sim.state import API_VERSION, TERMINAL_STATUSES, SimCall, rfc2822


@dataclass
class Delivery:
    """One HTTP request the simulator makes to our server. ``log`` is its entry in the
    call's ``callbacks`` list, filled in when it is sent."""

    call: SimCall
    kind: str  # "status", "recording", "twiml" or "gather"
    url: str
    method: str
    params: dict
    signature: str
    due: float
    log: dict


@lru_cache(maxsize=65536)
def _country(number: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number)) or ""
    except phonenumbers.NumberParseException:
        return ""


def _geography(call: SimCall) -> dict:
    """Twilio's geographic parameters: the country of each number; city, state and postal
    code are sent empty when Twilio does not know them, as for mobile numbers."""
    params = {}
    for prefix, number in (("From", call.from_), ("To", call.to), ("Caller", call.from_), ("Called", call.to)):
        params.update(
            {f"{prefix}Country": _country(number), f"{prefix}City": "", f"{prefix}State": "", f"{prefix}Zip": ""}
        )
    return params


def call_params(call: SimCall, status: str) -> dict:
    """The parameters of every request about a call (Twilio's "request parameters")."""
    params = {
        **_geography(call),
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


class Callbacks:
    """Queues (with the configured faults), schedules and sends the requests. Every method
    but the senders' runs on the scheduler thread, under the engine's lock."""

    def __init__(
        self,
        *,
        lock: threading.RLock,
        scheduler: Scheduler,
        config: Callable[[], SimConfig],
        on_call_flow_answer: Callable[[Delivery, int | None, str], None],
    ):
        self._lock = lock
        # Told of every answer (or failure) to a TwiML fetch or a Gather's action request.
        self._on_call_flow_answer = on_call_flow_answer
        self._scheduler = scheduler
        self._config = config
        self._pending: dict[str, deque[Delivery]] = {}
        self._sending: set[str] = set()
        self._senders = ThreadPoolExecutor(max_workers=64, thread_name_prefix="twilio-sim-callback")
        # Kept-alive connections shared by the senders, straight on urllib3: the simulator
        # shares its machine with the app in the benchmarks and the cluster test, and a
        # requests session spends far more CPU per callback (proxy and settings lookups in the
        # environment on every request), CPU that Twilio never takes from an app host.
        # One pool manager per CA bundle in force (see _pool_manager).
        self._pool_managers: dict[str, urllib3.PoolManager] = {}

    def is_idle(self) -> bool:
        with self._lock:
            return not self._pending and not self._sending

    def shutdown(self) -> None:
        self._senders.shutdown(wait=False, cancel_futures=True)

    # --- what is sent -----------------------------------------------------------------------

    def twiml_fetch(self, call: SimCall, now: float) -> None:
        # Fetched before the answered callback goes out, as Twilio does; not subject to faults.
        params = call_params(call, "in-progress")
        self._enqueue(self._delivery(call, "twiml", "twiml", call.url, call.method, params, now))

    def gather(self, call: SimCall, *, url: str, method: str, params: dict, now: float) -> None:
        # The Gather's action with the pressed digits: part of the call flow, like the TwiML
        # fetch, so not subject to callback faults.
        self._enqueue(self._delivery(call, "gather", "gather", url, method, params, now))

    def status(self, call: SimCall, event: str, now: float, *, final: bool, recording_url: str = "") -> None:
        params = call_params(call, event)
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
            params["SipResponseCode"] = str(call.sip_response_code)
            if call.error_code:
                params["ErrorCode"] = call.error_code
                params["ErrorMessage"] = call.error_message
            recording = call.recording
            if event == "completed" and recording is not None and not recording.absent:
                # Record=true: the completed callback names the call's recording.
                params["RecordingUrl"] = recording_url
                params["RecordingSid"] = recording.sid
                params["RecordingDuration"] = str(recording.duration)
        self._queue(
            call,
            kind="status",
            event=event,
            url=call.status_callback,
            method=call.status_callback_method,
            params=params,
            due=now,
            final=final,
        )

    def recording(self, call: SimCall, params: dict, now: float, *, final: bool) -> None:
        self._queue(
            call,
            kind="recording",
            event="recording",
            url=call.recording_status_callback,
            method=call.recording_status_callback_method,
            params=params,
            due=now,
            final=final,
        )

    # --- faults and order -------------------------------------------------------------------

    def _delivery(self, call, kind, event, url, method, params, due, fault=None) -> Delivery:
        if method == "GET":
            separator = "&" if "?" in url else "?"
            url = url + separator + urlencode(params)
            signed_params = {}
        else:
            signed_params = params
        signature = RequestValidator(self._config().auth_token).compute_signature(url, signed_params)
        log = {
            "kind": kind,
            "event": event,
            "method": method,
            "sequence": int(params["SequenceNumber"]) if "SequenceNumber" in params else None,
            "url": url,
            "due_at": due,
            "sent_at": None,
            "http_status": None,
            "error": None,
            "fault": fault,
            "_params": params,
        }
        call.callbacks.append(log)
        return Delivery(call, kind, url, method, params, signature, due, log)

    def _queue(self, call, *, kind, event, url, method, params, due, final) -> None:
        config = self._config()
        faulty = config.callback_fault_events is None or event in config.callback_fault_events
        if faulty and chance(config.callback_drop_rate, call.rng):
            self._delivery(call, kind, event, url, method, params, due, fault="dropped")
            # A dropped final callback still releases one held back before it.
            if final and call.held is not None:
                self._release_held(call, due)
            return
        fault = None
        if faulty and chance(config.callback_delay_rate, call.rng):
            due += config.callback_delay_seconds / config.time_scale
            fault = "delayed"
        reorder = faulty and not final and call.held is None and chance(config.callback_reorder_rate, call.rng)
        if reorder:
            fault = "reordered"
        delivery = self._delivery(call, kind, event, url, method, params, due, fault=fault)
        duplicate = None
        if faulty and chance(config.callback_duplicate_rate, call.rng):
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
        call = delivery.call
        # One call's callbacks leave in the order queued: a later one never overtakes a
        # delayed one unless reordering put it first.
        delivery.due = max(delivery.due, call.last_due)
        delivery.log["due_at"] = delivery.due
        call.last_due = delivery.due
        self._scheduler.at(delivery.due, partial(self._hand_to_sender, delivery))

    # --- sending ----------------------------------------------------------------------------

    def _hand_to_sender(self, delivery: Delivery) -> None:
        sid = delivery.call.sid
        self._pending.setdefault(sid, deque()).append(delivery)
        if sid not in self._sending:
            self._sending.add(sid)
            self._senders.submit(self._drain, sid)

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

    def _pool_manager(self) -> urllib3.PoolManager:
        """The pool manager trusting the CA bundle requests would trust: REQUESTS_CA_BUNDLE (the
        benchmark names its own certificate there while its front server runs) or CURL_CA_BUNDLE,
        a file or a directory; certifi's otherwise."""
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
        manager = self._pool_managers.get(bundle)
        if manager is None:
            trust = {"ca_cert_dir": bundle} if os.path.isdir(bundle) else {"ca_certs": bundle}
            with self._lock:
                manager = self._pool_managers.setdefault(
                    bundle, urllib3.PoolManager(maxsize=64, cert_reqs="CERT_REQUIRED", **trust)
                )
        return manager

    def _send(self, delivery: Delivery) -> None:
        headers = {"X-Twilio-Signature": delivery.signature, "User-Agent": "TwilioProxy/1.1"}
        seconds = self._config().callback_timeout_seconds
        sent_at = time.time()
        status = error = None
        body = ""
        # Twilio requests a URL with GET or POST, nothing else: anything but GET is a POST.
        method = "GET" if delivery.method == "GET" else "POST"
        body_bytes = None
        if method == "POST":
            body_bytes = urlencode(delivery.params, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            credentials = urllib3.util.parse_url(delivery.url).auth
            if credentials:
                # Credentials in the URL (https://user:password@host/...) go as HTTP basic auth.
                headers.update(urllib3.util.make_headers(basic_auth=credentials))
            # Each request sent once (a failure is the fault it shows); redirects followed, up to 10.
            response = self._pool_manager().request(
                method,
                delivery.url,
                body=body_bytes,
                headers=headers,
                timeout=urllib3.Timeout(connect=seconds, read=seconds),
                retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=10),
            )
            status = response.status
            body = response.data.decode("utf-8", errors="replace")
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            # Whatever fails is this request's error: the call's later requests still go out.
            error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            delivery.log.update(sent_at=sent_at, http_status=status, error=error)
            if delivery.kind == "twiml":
                call = delivery.call
                call.twiml = {"fetched_at": sent_at, "http_status": status, "error": error, "body": body[:2000]}
            if delivery.kind in ("twiml", "gather"):
                self._on_call_flow_answer(delivery, status, body)
