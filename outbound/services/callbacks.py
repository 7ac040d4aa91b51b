"""Applying what Twilio reports about a call: status callbacks and reconciler fetches.

Transitions only go forward (dialing -> calling -> final), so duplicated, reordered or
late reports change nothing. A final status while dialing or calling frees the slot and
fills the run again once the change is committed.
"""

import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from outbound.models import CallEvent, OutboundCallJob, OutboundCallRun
from outbound.services.call_reports import (
    CallReport,
    LockedCall,
    call_end,
    call_lock_statement,
    call_progress_record,
)
from outbound.services.dispatch import dispatch_fill_on_commit
from outbound.services.sql import db_datetime, execute_in_turn, row_as, row_as_each, statement_cursor

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
# The event names its call job only if the job exists (the URL's job_id may name none):
# {job} is the id read from the jobs table, or from the locked row (_LOCK_AND_EVENT).
_EVENT_INSERT = """
    INSERT INTO call_events
        (call_sid, kind, sequence_number, call_status, claim_number, payload, received_at, job_id)
    VALUES (%s, %s, %s, %s, %s, %s, %s, {job})
    ON CONFLICT (call_sid, kind, sequence_number) DO NOTHING RETURNING id"""
_EVENT_INSERT_BY_JOB_ID = _EVENT_INSERT.format(job="(SELECT id FROM outbound_call_jobs WHERE id = %s)")
# PostgreSQL: the call's row lock and the event in one statement. The event's row takes the
# locked call's id, so it is inserted only once the lock is held, as when they were two
# statements: a duplicate waits for the lock, then finds the event its twin committed.
_LOCK_AND_EVENT = """
    WITH locked AS ({call_lock}),
    stored AS ({event_insert})
    SELECT locked.*, EXISTS (SELECT 1 FROM stored) AS event_stored FROM (SELECT 1) AS one LEFT JOIN locked ON TRUE"""


def call_report_from_callback(params) -> CallReport:
    status = (params.get("CallStatus") or "").strip().lower()
    return CallReport(
        call_sid=(params.get("CallSid") or "").strip(),
        status=status,
        sequence_number=_int_or_none(params.get("SequenceNumber")),
        answered_by=(params.get("AnsweredBy") or "").strip().lower(),
        duration=_int_or_none(params.get("CallDuration")),
        error_code=(params.get("ErrorCode") or params.get("SipResponseCode") or "").strip(),
        error_message=_error_message(params),
    )


def _error_message(params) -> str:
    """Twilio's ErrorMessage, naming the SIP response that ended an unanswered call."""
    message = (params.get("ErrorMessage") or "").strip()
    sip_code = (params.get("SipResponseCode") or "").strip()
    if sip_code and (params.get("CallStatus") or "").strip().lower() in ("busy", "no-answer", "failed"):
        return f"{message} (SIP {sip_code})" if message else f"SIP {sip_code}"
    return message


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def call_status_callback_record(*, job_id: int, claim_number: int | None, params: dict) -> str:
    """Store a status callback once and apply it. Returns what happened, for the log."""
    report = call_report_from_callback(params)
    if not report.call_sid or not report.status:
        logger.warning("Status callback for call %s without CallSid/CallStatus; ignored", job_id)
        return "incomplete"
    sequence = report.sequence_number
    if sequence is None:
        sequence = _STATUS_ORDER.get(report.status, len(_STATUS_ORDER))
    event = _call_event_values(
        call_sid=report.call_sid,
        sequence_number=sequence,
        call_status=report.status,
        claim_number=claim_number,
        payload=dict(params),
    )
    with transaction.atomic():
        job, stored = _call_lock_and_event_store(job_id=job_id, event=event)
        if not stored:
            return "duplicate"
        if job is None:
            logger.warning("Status callback %s for unknown call job %s; acknowledged", report.call_sid, job_id)
            return "unknown_job"
        return call_report_apply(job=job, claim_number=claim_number, report=report)


@dataclass(frozen=True)
class _EventStored:
    event_stored: bool


def _call_lock_and_event_store(*, job_id: int, event: list) -> tuple[LockedCall | None, bool]:
    """Lock the call's row (call_lock: the lock every report of the call takes) and store
    the callback's event (its values, _call_event_values) under it. Returns the locked call
    (None: no such job) and whether the event was new. One statement on PostgreSQL;
    elsewhere two, in turn."""
    lock_sql, lock_params = call_lock_statement(job_id=job_id, wait_for_flush=False)
    if connection.vendor != "postgresql":
        return tuple(
            execute_in_turn(
                [
                    (lock_sql, lock_params, lambda cursor: row_as(cursor, LockedCall)),
                    (_EVENT_INSERT_BY_JOB_ID, [*event, job_id], lambda cursor: cursor.fetchone() is not None),
                ]
            )
        )
    sql = _LOCK_AND_EVENT.format(call_lock=lock_sql, event_insert=_EVENT_INSERT.format(job="(SELECT id FROM locked)"))
    with statement_cursor() as cursor:
        cursor.execute(sql, [*lock_params, *event])
        call, stored = row_as_each(cursor, LockedCall, _EventStored)
    return (call if call.id is not None else None), stored.event_stored


def _call_event_values(
    *, call_sid: str, sequence_number: int, call_status: str, claim_number: int | None, payload
) -> list:
    """The values of a status callback's event (_EVENT_INSERT), inserted unless it is stored
    already: a row comes back when it was new.

    ON CONFLICT DO NOTHING instead of catching the unique violation: no savepoint (two more
    round trips per callback) is needed to survive it. PostgreSQL and SQLite both have it.
    """
    return [
        call_sid,
        CallEvent.Kind.STATUS.value,
        sequence_number,
        call_status,
        claim_number,
        _PAYLOAD_FIELD.get_db_prep_save(payload, connection),
        db_datetime(timezone.now()),
    ]


def call_report_apply(*, job: LockedCall, claim_number: int | None, report: CallReport) -> str:
    """Apply a report to a locked call, forward only. Returns "applied", "released" or "stale"."""
    if claim_number is not None and claim_number != job.claim_number:
        return "stale"
    if job.status not in ACTIVE:
        return "stale"
    if job.call_sid and report.call_sid != job.call_sid:
        return "stale"
    if report.sequence_number is not None and report.sequence_number <= job.last_sequence_number:
        return "stale"
    now = timezone.now()
    if report.status not in TWILIO_FINAL:
        call_progress_record(call=job, report=report, answered=report.status == TWILIO_IN_PROGRESS, now=now)
        return "applied"
    if job.outcome == Outcome.OPTED_OUT:
        outcome = Outcome.OPTED_OUT  # pressed the opt-out key during the call (the gather webhook)
    else:
        outcome = _outcome(report=report, answered_by=report.answered_by or job.answered_by)
    retry = (
        outcome in _RETRYABLE_OUTCOMES
        and job.attempts < job.run_max_attempts
        and job.run_status in OutboundCallRun.ACTIVE_STATUSES
        and not job.run_cancel_requested
    )
    call_end(call=job, report=report, outcome=outcome, retry=retry, now=now)
    dispatch_fill_on_commit(job.run_id)
    return "released"


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
