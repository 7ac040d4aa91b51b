"""Applying what Twilio reports about a call: status callbacks and reconciler fetches.

Transitions only go forward (dialing -> calling -> final), so duplicated, reordered or
late reports change nothing. A final status while dialing or calling frees the slot and
fills the run again once the change is committed.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from outbound.models import CallEvent, OutboundCallJob, OutboundCallRun
from outbound.services.dispatch import dispatch_fill_on_commit

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
_REPORT_FIELDS = [
    "call_sid",
    "last_event_at",
    "twilio_status",
    "last_sequence_number",
    "answered_by",
    "status",
    "answered_at",
    "updated_at",
]
_END_FIELDS = [
    "slot",
    "ended_at",
    "duration_seconds",
    "error_code",
    "error_message",
    "outcome",
    "next_attempt_at",
]


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
        _commit_without_flush_wait()
        # The job row lock serialises callbacks, fetches and dial results of one call.
        job = OutboundCallJob.objects.select_for_update().filter(pk=job_id).first()
        try:
            with transaction.atomic():
                CallEvent.objects.create(
                    call_sid=report.call_sid,
                    kind=CallEvent.Kind.STATUS,
                    sequence_number=sequence,
                    call_status=report.status,
                    claim_number=claim_number,
                    job=job,
                    payload=dict(params),
                )
        except IntegrityError:
            return "duplicate"
        if job is None:
            logger.warning("Status callback %s for unknown call job %s; acknowledged", report.call_sid, job_id)
            return "unknown_job"
        return call_report_apply(job=job, claim_number=claim_number, report=report)


def _commit_without_flush_wait() -> None:
    """Let this transaction commit without waiting for its WAL flush (PostgreSQL only).

    A callback lost to a database crash in the next few milliseconds costs nothing: the
    reconciler fetches that call's state from Twilio. Every callback of a call waits for the
    previous one's commit (they share the row lock), so not waiting for the disk matters.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def call_report_apply(*, job: OutboundCallJob, claim_number: int | None, report: CallReport) -> str:
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
    job.call_sid = job.call_sid or report.call_sid
    job.last_event_at = now
    job.twilio_status = report.status
    if report.sequence_number is not None:
        job.last_sequence_number = report.sequence_number
    if report.answered_by:
        job.answered_by = report.answered_by
    if report.status in TWILIO_FINAL:
        _end_call(job=job, report=report, now=now)
        job.save(update_fields=[*_REPORT_FIELDS, *_END_FIELDS])
        dispatch_fill_on_commit(job.run_id)
        return "released"
    if report.status == TWILIO_IN_PROGRESS and job.status == CallStatus.DIALING:
        job.status = CallStatus.CALLING
        job.answered_at = now
    job.save(update_fields=_REPORT_FIELDS)
    return "applied"


def _end_call(*, job: OutboundCallJob, report: CallReport, now) -> None:
    outcome = _outcome(report=report, answered_by=job.answered_by)
    job.slot = None
    job.ended_at = now
    if report.duration is not None:
        job.duration_seconds = report.duration
    if report.error_code:
        job.error_code = report.error_code[:32]
    if report.error_message:
        job.error_message = report.error_message
    run = OutboundCallRun.objects.only("status", "max_attempts", "retry_delay_seconds", "cancel_requested_at").get(
        pk=job.run_id
    )
    retry = (
        outcome in _RETRYABLE_OUTCOMES
        and job.attempts < run.max_attempts
        and run.is_active
        and run.cancel_requested_at is None
    )
    if retry:
        # Back in the queue without a slot until the retry is due. A cancel that races
        # with this is caught by the next fill, which cancels queued calls of a
        # cancelled run under its lock.
        job.status = CallStatus.QUEUED
        job.outcome = ""
        job.call_sid = None
        job.next_attempt_at = now + timedelta(seconds=run.retry_delay_seconds)
        job.error_message = job.error_message or report.status
        return
    job.outcome = outcome
    if outcome == Outcome.FAILED:
        job.status = CallStatus.FAILED
    elif outcome == Outcome.CANCELED:
        job.status = CallStatus.CANCELED
    else:
        job.status = CallStatus.COMPLETED


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
