"""Applying what Twilio reports about a call: status callbacks and reconciler fetches.

Transitions only go forward (dialing -> calling -> final), so duplicated, reordered or
late reports change nothing. A final status while dialing or calling frees the slot and
fills the run again once the change is committed.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from outbound.models import CallEvent, OutboundCallJob, OutboundCallRun
from outbound.services.dispatch import dispatch_fill_on_commit
from outbound.services.sql import db_datetime, locking, row_update

logger = logging.getLogger(__name__)

CallStatus = OutboundCallJob.Status
Outcome = OutboundCallJob.Outcome
ACTIVE = OutboundCallJob.ACTIVE_STATUSES

TWILIO_PENDING = ("queued", "initiated", "ringing")
TWILIO_IN_PROGRESS = "in-progress"
TWILIO_FINAL = ("completed", "busy", "no-answer", "canceled", "failed")
# Order of Twilio's statuses, standing in for a missing SequenceNumber.
_STATUS_ORDER = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}
_RETRYABLE_OUTCOMES = (Outcome.BUSY, Outcome.NO_ANSWER)
_PAYLOAD_FIELD = CallEvent._meta.get_field("payload")
_EVENT_INSERT = (
    "INSERT INTO call_events"
    " (call_sid, kind, sequence_number, call_status, claim_number, job_id, payload, received_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (call_sid, kind, sequence_number) DO NOTHING RETURNING id"
)


@dataclass(frozen=True)
class CallReport:
    """A call's state as Twilio reported it, from a callback or a fetch."""

    call_sid: str
    status: str
    sequence_number: int | None = None
    answered_by: str = ""
    duration: int | None = None
    error_code: str = ""
    error_message: str = ""

    @classmethod
    def from_callback(cls, params) -> "CallReport":
        status = (params.get("CallStatus") or "").strip().lower()
        return cls(
            call_sid=(params.get("CallSid") or "").strip(),
            status=status,
            sequence_number=_int_or_none(params.get("SequenceNumber")),
            answered_by=(params.get("AnsweredBy") or "").strip().lower(),
            duration=_int_or_none(params.get("CallDuration")),
            error_code=(params.get("ErrorCode") or params.get("SipResponseCode") or "").strip(),
            error_message=(params.get("ErrorMessage") or "").strip(),
        )


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class LockedCall:
    """A call job as read under its row lock, with the run settings a final report needs."""

    id: int
    run_id: int
    status: str
    claim_number: int
    call_sid: str | None
    last_sequence_number: int
    answered_by: str
    attempts: int
    error_message: str
    run_status: str
    run_max_attempts: int
    run_retry_delay_seconds: int
    run_cancel_requested: bool


_CALL_LOCK = """
    SELECT j.id, j.run_id, j.status, j.claim_number, j.call_sid, j.last_sequence_number, j.answered_by,
           j.attempts, j.error_message, r.status, r.max_attempts, r.retry_delay_seconds,
           r.cancel_requested_at IS NOT NULL{no_flush_wait}
    FROM outbound_call_jobs j JOIN outbound_call_runs r ON r.id = j.run_id
    WHERE j.id = %s"""


def call_lock(*, job_id: int, wait_for_flush: bool = True) -> LockedCall | None:
    """Lock a call job's row for this transaction and read it. The row lock serialises
    callbacks, fetches and dial results of one call.

    The run's settings come with it, unlocked and as they were when the statement began
    (after waiting for the job's lock PostgreSQL reads the job again, not the run). A
    cancel or failure of the run that lands meanwhile is caught by the fill that follows
    every final report, which cancels the queued calls of such a run under the run lock.

    wait_for_flush=False lets this transaction commit without waiting for its WAL flush
    (PostgreSQL): a report lost to a database crash in the next few milliseconds costs
    nothing, as the reconciler fetches that call's state from Twilio, while every report
    of a call waits for the previous one's commit. Asked for in the same statement as the
    lock, it costs no round trip of its own.
    """
    no_flush_wait = ""
    if not wait_for_flush and connection.vendor == "postgresql":
        no_flush_wait = ", set_config('synchronous_commit', 'off', true)"
    with connection.cursor() as cursor:
        cursor.execute(_CALL_LOCK.format(no_flush_wait=no_flush_wait) + locking("FOR UPDATE OF j"), [job_id])
        row = cursor.fetchone()
    return LockedCall(*row[:13]) if row is not None else None


def call_status_callback_record(*, job_id: int, claim_number: int | None, params: dict) -> str:
    """Store a status callback once and apply it. Returns what happened, for the log."""
    report = CallReport.from_callback(params)
    if not report.call_sid or not report.status:
        logger.warning("Status callback for call %s without CallSid/CallStatus; ignored", job_id)
        return "incomplete"
    sequence = report.sequence_number
    if sequence is None:
        sequence = _STATUS_ORDER.get(report.status, len(_STATUS_ORDER))
    with transaction.atomic():
        job = call_lock(job_id=job_id, wait_for_flush=False)
        stored = _call_event_store(
            call_sid=report.call_sid,
            sequence_number=sequence,
            call_status=report.status,
            claim_number=claim_number,
            job_id=job.id if job is not None else None,
            payload=dict(params),
        )
        if not stored:
            return "duplicate"
        if job is None:
            logger.warning("Status callback %s for unknown call job %s; acknowledged", report.call_sid, job_id)
            return "unknown_job"
        return call_report_apply(job=job, claim_number=claim_number, report=report)


def _call_event_store(
    *, call_sid: str, sequence_number: int, call_status: str, claim_number: int | None, job_id: int | None, payload
) -> bool:
    """Insert a status callback's event unless it is stored already. True when it was new.

    ON CONFLICT DO NOTHING instead of catching the unique violation: no savepoint (two more
    round trips per callback) is needed to survive it. PostgreSQL and SQLite both have it.
    """
    values = [
        call_sid,
        CallEvent.Kind.STATUS.value,
        sequence_number,
        call_status,
        claim_number,
        job_id,
        _PAYLOAD_FIELD.get_db_prep_save(payload, connection),
        db_datetime(timezone.now()),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_EVENT_INSERT, values)
        return cursor.fetchone() is not None


def call_report_apply(*, job: LockedCall, claim_number: int | None, report: CallReport) -> str:
    """Apply a report to a locked job, forward only. Returns "applied", "released" or "stale"."""
    if claim_number is not None and claim_number != job.claim_number:
        return "stale"
    if job.status not in ACTIVE:
        return "stale"
    if job.call_sid and report.call_sid != job.call_sid:
        return "stale"
    if report.sequence_number is not None and report.sequence_number <= job.last_sequence_number:
        return "stale"
    now = timezone.now()
    changes = {"last_event_at": now, "twilio_status": report.status, "updated_at": now}
    if not job.call_sid:
        changes["call_sid"] = report.call_sid
    if report.sequence_number is not None:
        changes["last_sequence_number"] = report.sequence_number
    answered_by = job.answered_by
    if report.answered_by:
        answered_by = changes["answered_by"] = report.answered_by
    if report.status in TWILIO_FINAL:
        changes.update(_end_call(job=job, report=report, answered_by=answered_by, now=now))
        row_update(OutboundCallJob, pk=job.id, changes=changes)
        dispatch_fill_on_commit(job.run_id)
        return "released"
    if report.status == TWILIO_IN_PROGRESS and job.status == CallStatus.DIALING:
        changes["status"] = CallStatus.CALLING
        changes["answered_at"] = now
    row_update(OutboundCallJob, pk=job.id, changes=changes)
    return "applied"


def _end_call(*, job: LockedCall, report: CallReport, answered_by: str, now: datetime) -> dict:
    """The changes that end the call: its slot freed, and final or queued for a retry."""
    outcome = _outcome(report=report, answered_by=answered_by)
    changes = {"slot": None, "ended_at": now}
    if report.duration is not None:
        changes["duration_seconds"] = report.duration
    if report.error_code:
        changes["error_code"] = report.error_code[:32]
    error_message = report.error_message or job.error_message
    if report.error_message:
        changes["error_message"] = report.error_message
    retry = (
        outcome in _RETRYABLE_OUTCOMES
        and job.attempts < job.run_max_attempts
        and job.run_status in OutboundCallRun.ACTIVE_STATUSES
        and not job.run_cancel_requested
    )
    if retry:
        # Back in the queue without a slot until the retry is due. A cancel that races
        # with this is caught by the next fill, which cancels queued calls of a
        # cancelled run under its lock.
        changes.update(
            status=CallStatus.QUEUED,
            outcome="",
            call_sid=None,
            next_attempt_at=now + timedelta(seconds=job.run_retry_delay_seconds),
            error_message=error_message or report.status,
        )
        return changes
    changes["outcome"] = outcome
    if outcome == Outcome.FAILED:
        changes["status"] = CallStatus.FAILED
    elif outcome == Outcome.CANCELED:
        changes["status"] = CallStatus.CANCELED
    else:
        changes["status"] = CallStatus.COMPLETED
    return changes


def _outcome(*, report: CallReport, answered_by: str) -> str:
    if report.status == "completed":
        if answered_by.startswith("machine") or answered_by == "fax":
            return Outcome.MACHINE
        return Outcome.ANSWERED
    return {
        "busy": Outcome.BUSY,
        "no-answer": Outcome.NO_ANSWER,
        "canceled": Outcome.CANCELED,
    }.get(report.status, Outcome.FAILED)
