"""Reads of runs and their calls, always scoped to one business."""

from django.db.models import Count, QuerySet

from callcenter.errors import NotFound
from callcenter.models import Business
from outbound.models import OutboundCallJob, OutboundCallRun

CallStatus = OutboundCallJob.Status


def call_status_counts(*, run_id: int) -> dict[str, int]:
    """How many calls of the run are in each status (every status present, zeros included)."""
    counts = dict.fromkeys(CallStatus.values, 0)
    rows = OutboundCallJob.objects.filter(run_id=run_id).values("status").annotate(n=Count("id")).order_by()
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts


def run_progress(*, run: OutboundCallRun) -> dict:
    """The seed's progress shape: queued, in_progress (dialing + calling), completed, failed, ..."""
    counts = call_status_counts(run_id=run.pk)
    return {
        "run_id": run.pk,
        "status": run.status,
        "queued": counts[CallStatus.QUEUED],
        "in_progress": counts[CallStatus.DIALING] + counts[CallStatus.CALLING],
        "completed": counts[CallStatus.COMPLETED],
        "failed": counts[CallStatus.FAILED],
        "total_leads": run.total_leads,
        "concurrency": run.concurrency,
        "dialing": counts[CallStatus.DIALING],
        "calling": counts[CallStatus.CALLING],
        "canceled": counts[CallStatus.CANCELED],
        "skipped": counts[CallStatus.SKIPPED],
        "job_id": run.background_job_id,
        "cancel_requested": run.cancel_requested_at is not None,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "message": run.message,
    }


def run_list(*, business: Business) -> QuerySet[OutboundCallRun]:
    return OutboundCallRun.objects.filter(business=business)


def run_get(*, business: Business, run_id: int) -> OutboundCallRun:
    run = run_list(business=business).filter(pk=run_id).first()
    if run is None:
        raise NotFound()
    return run


def run_call_list(*, business: Business, run_id: int) -> QuerySet[OutboundCallJob]:
    run = run_get(business=business, run_id=run_id)
    return OutboundCallJob.objects.filter(business=business, run=run).order_by("id")


OUTCOME_KEYS = (
    "answered",
    "busy",
    "no_answer",
    "machine",
    "failed",
    "invalid_number",
    "do_not_call",
    "opted_out",
    "canceled",
)
# A finished call without an outcome of its own is counted by its status.
_OUTCOME_OF_STATUS = {"failed": "failed", "canceled": "canceled", "cancelled": "canceled", "skipped": "failed"}


def _outcome_key(value: str) -> str | None:
    key = value.replace("-", "_")
    if key == "cancelled":
        return "canceled"
    return key if key in OUTCOME_KEYS else None


def run_outcome_counts(*, run: OutboundCallRun) -> dict[str, int]:
    """How many leads of the run finished with each final outcome (every key, zeros included).

    Only finished calls count: a call in progress, queued or waiting for a retry has no final
    outcome yet. The API's `outcomes` and the admin's dashboard both read this.
    """
    counts = dict.fromkeys(OUTCOME_KEYS, 0)
    rows = (
        OutboundCallJob.objects.filter(run_id=run.pk, status__in=OutboundCallJob.FINAL_STATUSES)
        .values("status", "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        key = _outcome_key(row["outcome"]) if row["outcome"] else None
        key = key or _OUTCOME_OF_STATUS.get(row["status"], "failed")
        counts[key] += row["n"]
    return counts
