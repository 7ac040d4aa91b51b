"""Reads of runs and their calls, always scoped to one business."""

from datetime import datetime

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from callcenter.errors import NotFound
from callcenter.models import Business
from leads.models import DoNotCallNumber, Lead
from outbound.models import CallAttempt, OutboundCallJob, OutboundCallRun

CallStatus = OutboundCallJob.Status


def call_status_counts(*, run_id: int) -> dict[str, int]:
    """How many calls of the run are in each status (every status present, zeros included)."""
    counts = dict.fromkeys(CallStatus.values, 0)
    rows = OutboundCallJob.objects.filter(run_id=run_id).values("status").annotate(n=Count("id")).order_by()
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts


def run_progress(*, run: OutboundCallRun, now: datetime | None = None) -> dict:
    """The seed's progress shape (queued, in_progress = dialing + calling, completed, failed,
    total_leads, concurrency: their meaning never changes), then what was added since:
    outcomes of the finished leads, answer rate, times, an estimate of the time left, and
    whether the run waits for its leads' calling hours."""
    now = now or timezone.now()
    counts = call_status_counts(run_id=run.pk)
    in_progress = counts[CallStatus.DIALING] + counts[CallStatus.CALLING]
    outcomes = run_outcome_counts(run=run)
    next_call_at = None
    if run.is_active and counts[CallStatus.QUEUED] and not in_progress:
        next_call_at = run_next_call_at(run_id=run.pk)
    waiting_for_hours = bool(
        run.status == OutboundCallRun.Status.RUNNING and next_call_at is not None and next_call_at > now
    )
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
        "outcomes": outcomes,
        "answer_rate": _answer_rate(outcomes),
        "eta_seconds": _eta_seconds(
            run=run, remaining=counts[CallStatus.QUEUED] + in_progress, next_call_at=next_call_at, now=now
        ),
        "waiting_for_calling_hours": waiting_for_hours,
        "next_call_at": next_call_at,
    }


# Outcomes of leads that were never really tried: no part of the answer rate.
_NOT_TRIED = ("do_not_call", "canceled")


def _answer_rate(outcomes: dict[str, int]) -> float | None:
    """Leads a person answered (opting out included) out of the finished leads that were tried."""
    tried = sum(n for key, n in outcomes.items() if key not in _NOT_TRIED)
    if not tried:
        return None
    return round((outcomes["answered"] + outcomes["opted_out"]) / tried, 4)


def _eta_seconds(*, run: OutboundCallRun, remaining: int, next_call_at, now: datetime) -> int | None:
    """The leads left at the pace so far (finished leads per second since the start), and
    no sooner than the next calling window opens. None while there is no pace yet; 0 done."""
    if not run.is_active:
        return 0
    if not remaining:
        return 0
    finished = run.total_leads - remaining
    if finished <= 0 or run.started_at is None:
        return None
    elapsed = max((now - run.started_at).total_seconds(), 0.0)
    eta = remaining * elapsed / finished
    if next_call_at is not None and next_call_at > now:
        eta = max(eta, (next_call_at - now).total_seconds())
    return round(eta)


def run_next_call_at(*, run_id: int) -> datetime | None:
    """When the run's next queued call is due: its retry delay, its backoff, or its lead's
    calling window opening. None when nothing is queued. A fill at that time dials it."""
    return (
        OutboundCallJob.objects.filter(run_id=run_id, status=CallStatus.QUEUED)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def run_list(*, business: Business) -> QuerySet[OutboundCallRun]:
    return OutboundCallRun.objects.filter(business=business)


def run_get(*, business: Business, run_id: int) -> OutboundCallRun:
    run = run_list(business=business).filter(pk=run_id).first()
    if run is None:
        raise NotFound()
    return run


def run_call_list(*, business: Business, run_id: int) -> QuerySet[OutboundCallJob]:
    """The run's calls, one per lead, each with its finished attempts (prefetched)."""
    run = run_get(business=business, run_id=run_id)
    return (
        OutboundCallJob.objects.filter(business=business, run=run)
        .order_by("id")
        .prefetch_related(Prefetch("history", queryset=CallAttempt.objects.order_by("attempt_number")))
    )


def lead_attempt_list(*, business: Business, lead_id: int) -> QuerySet[CallAttempt]:
    """A lead's attempts across runs, latest first. Another business's lead is not found."""
    if not Lead.objects.filter(business=business, pk=lead_id).exists():
        raise NotFound()
    return CallAttempt.objects.filter(business=business, lead_id=lead_id).order_by("-ended_at", "-id")


# Every final outcome, in the order the API and the admin list them.
OUTCOME_KEYS = tuple(OutboundCallJob.Outcome.values)
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


# --- What the console shows -----------------------------------------------------------

# A number Twilio can dial: E.164, "+" then 8 to 15 digits.
DIALABLE_PHONE = r"^\+[1-9][0-9]{7,14}$"
# Why a run skipped a lead at its start (the call's error_code).
SKIP_DO_NOT_CALL = "do_not_call"
SKIP_INVALID = "invalid_number"
SKIP_IN_ACTIVE_CALL = "in_active_call"
SKIP_REASONS = (SKIP_DO_NOT_CALL, SKIP_INVALID, SKIP_IN_ACTIVE_CALL)


def run_skip_counts(*, run: OutboundCallRun) -> dict[str, int]:
    """Leads the run skipped, by reason: what its start's confirmation announced."""
    counts = dict.fromkeys(SKIP_REASONS, 0)
    rows = (
        OutboundCallJob.objects.filter(run_id=run.pk, status=CallStatus.SKIPPED, error_code__in=SKIP_REASONS)
        .values("error_code")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        counts[row["error_code"]] = row["n"]
    return counts


def run_start_preview(*, business: Business, leads: QuerySet) -> dict[str, int]:
    """What "start calls" on `leads` will do, counted in one query on the same queryset the
    run queues: how many are selected, and how many of them will not be dialed and why."""
    # Both lists are read once by PostgreSQL (uncorrelated subquery, hashed; and a handful of
    # ids), so the count stays one pass over the selected leads.
    listed = DoNotCallNumber.objects.filter(business=business).values("phone")
    in_active_call = list(
        OutboundCallJob.objects.filter(
            business=business, status__in=OutboundCallJob.ACTIVE_STATUSES, lead__isnull=False
        ).values_list("lead_id", flat=True)
    )
    do_not_call = Q(do_not_call=True) | Q(phone__in=listed)
    dialable = Q(phone__regex=DIALABLE_PHONE)
    # Through an id subquery: a filtered selection may be DISTINCT, which an aggregate would
    # otherwise have to wrap.
    found = leads.model.objects.filter(pk__in=leads.order_by().values("pk")).aggregate(
        n_selected=Count("id"),
        n_do_not_call=Count("id", filter=do_not_call),
        n_invalid=Count("id", filter=~do_not_call & ~dialable),
        n_in_active_call=Count("id", filter=~do_not_call & dialable & Q(pk__in=in_active_call)),
    )
    counts = {key.removeprefix("n_"): value for key, value in found.items()}
    counts[SKIP_INVALID] = counts["invalid"]
    counts["skipped"] = counts["do_not_call"] + counts["invalid"] + counts["in_active_call"]
    counts["to_call"] = counts["selected"] - counts["skipped"]
    return counts


def outcome_counts_of_runs(*, run_ids: list[int]) -> dict[int, dict[str, int]]:
    """run_outcome_counts of many runs in one query (a page of the runs list)."""
    found: dict[int, dict[str, int]] = {run_id: dict.fromkeys(OUTCOME_KEYS, 0) for run_id in run_ids}
    if not run_ids:
        return found
    rows = (
        OutboundCallJob.objects.filter(run_id__in=run_ids, status__in=OutboundCallJob.FINAL_STATUSES)
        .values("run_id", "status", "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        key = _outcome_key(row["outcome"]) if row["outcome"] else None
        key = key or _OUTCOME_OF_STATUS.get(row["status"], "failed")
        found[row["run_id"]][key] += row["n"]
    return found


def run_dashboard(*, run: OutboundCallRun, now=None) -> dict:
    """Everything the run page's dashboard shows: progress of finished leads only, each final
    outcome, the answer rate, the calls in progress now, elapsed time and an estimate."""
    now = now or timezone.now()
    progress = run_progress(run=run, now=now)
    outcomes = progress["outcomes"]
    finished = sum(outcomes.values())
    done = finished - outcomes["canceled"]
    in_progress = list(
        OutboundCallJob.objects.filter(run_id=run.pk, status__in=OutboundCallJob.ACTIVE_STATUSES)
        .order_by("slot")
        .values("id", "phone", "lead_name", "status", "dial_started_at", "claimed_at", "answered_at")[:10]
    )
    for call in in_progress:
        since = call["answered_at"] or call["dial_started_at"] or call["claimed_at"]
        call["seconds"] = int((now - since).total_seconds()) if since else 0
    end = run.finished_at or now
    elapsed = int((end - run.started_at).total_seconds()) if run.started_at else 0
    total = run.total_leads or 0
    return {
        "run_id": run.pk,
        "status": run.status,
        "cancel_requested": run.cancel_requested_at is not None,
        "total": total,
        "finished": finished,
        "done": done,
        "canceled": outcomes["canceled"],
        "queued": progress["queued"],
        "in_progress_count": progress["in_progress"],
        "done_percent": round(done * 100 / total, 1) if total else 0,
        "canceled_percent": round(outcomes["canceled"] * 100 / total, 1) if total else 0,
        "outcomes": outcomes,
        "answer_rate": progress["answer_rate"],
        "waiting_for_calling_hours": progress["waiting_for_calling_hours"],
        "next_call_at": progress["next_call_at"],
        "in_progress": in_progress,
        "skipped": run_skip_counts(run=run),
        "elapsed_seconds": elapsed,
        "eta_seconds": progress["eta_seconds"] if run.is_active else None,
    }
