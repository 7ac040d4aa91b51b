"""Starting and steering runs: start, pause, resume, cancel.

Every change of a run's status happens under its row lock, the same lock the slot filler
takes, so a fill never sees a half-made decision.
"""

import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from callcenter.errors import ApplicationError, Conflict, NotFound
from callcenter.models import BackgroundJob, Business
from callcenter.services import background_job_start
from leads.models import DoNotCallNumber
from leads.selectors import lead_queryset_from_selection
from outbound.models import MAX_SLOTS, OutboundCallJob, OutboundCallRun
from outbound.selectors import DIALABLE_PHONE, SKIP_DO_NOT_CALL, SKIP_IN_ACTIVE_CALL, SKIP_INVALID
from outbound.services.call_transitions import (
    calls_queued_cancel,
    calls_ringing_cancel_on_commit,
    calls_waiting_for_hours_due,
)
from outbound.services.dispatch import dispatch_fill_on_commit
from outbound.services.run_transitions import run_finish

logger = logging.getLogger(__name__)

RunStatus = OutboundCallRun.Status
CallStatus = OutboundCallJob.Status
Outcome = OutboundCallJob.Outcome


class NoLeadsSelected(ApplicationError):
    code = "no_leads"


def outbound_run_start(
    *, business: Business, selection: dict, concurrency: int | None = None, created_by=None
) -> OutboundCallRun:
    """Queue a call for each selected lead and start dialing `concurrency` at a time.

    Guarded by the background job of type enqueue_outbound_calls: while a run of the
    business is active, ActiveJobExists (the seed's message, its job id and status).
    """
    if concurrency is None:
        concurrency = min(settings.OUTBOUND_MAX_CONCURRENCY, MAX_SLOTS)
    if not 1 <= concurrency <= MAX_SLOTS:
        raise ApplicationError(_("Concurrency must be between 1 and %(max)s.") % {"max": MAX_SLOTS})
    leads = lead_queryset_from_selection(business=business, selection=selection)
    now = timezone.now()
    with transaction.atomic():
        job = background_job_start(
            business=business,
            job_type=BackgroundJob.JobType.ENQUEUE_OUTBOUND_CALLS,
            payload={"selection": selection, "concurrency": concurrency},
            created_by=created_by,
        )
        # The run's job stays running for as long as the run dials; fills heartbeat it.
        BackgroundJob.objects.filter(pk=job.pk).update(status=BackgroundJob.Status.RUNNING, started_at=now)
        job.status, job.started_at = BackgroundJob.Status.RUNNING, now
        run = OutboundCallRun.objects.create(
            business=business,
            background_job=job,
            status=RunStatus.RUNNING,
            concurrency=concurrency,
            max_attempts=max(settings.OUTBOUND_MAX_ATTEMPTS, 1),
            retry_delay_seconds=settings.OUTBOUND_RETRY_DELAY_SECONDS,
            selection=selection,
            created_by=created_by if getattr(created_by, "pk", None) else None,
            started_at=now,
        )
        total = _queue_calls(run=run, leads=leads, now=now)
        if not total:
            raise NoLeadsSelected(_("No leads to call in this selection."))
        skipped = _skip_uncallable(run=run, now=now)
        run.total_leads = total
        run.save(update_fields=["total_leads"])
        BackgroundJob.objects.filter(pk=job.pk).update(progress_total=total, result={"skipped": skipped})
        dispatch_fill_on_commit(run.pk)
    logger.info("Run %s started: %s leads, %s at a time (job %s)", run.pk, total, concurrency, job.pk)
    return run


def _queue_calls(*, run: OutboundCallRun, leads, now) -> int:
    """A queued call for each lead of the selection, in one INSERT ... SELECT: the leads are
    never loaded into Python. A lead in the selection twice is queued once (the (run, lead)
    unique constraint). Returns how many were queued."""
    per_lead = {"lead_id": "id", "phone": "phone", "lead_name": "name", "time_zone": "time_zone"}
    constants = {
        "business_id": run.business_id,
        "run_id": run.pk,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
    fields = [
        field
        for field in OutboundCallJob._meta.concrete_fields
        if not field.primary_key and field.attname not in per_lead
    ]
    values = []
    for field in fields:
        value = constants[field.attname] if field.attname in constants else field.get_default()
        values.append(field.get_db_prep_save(value, connection))
    selected_sql, selected_params = leads.order_by().values(*per_lead.values()).distinct().query.sql_with_params()
    quote = connection.ops.quote_name
    columns = [quote(field.column) for field in fields] + [quote(column) for column in per_lead]
    lead_columns = ", ".join(f"selected.{quote(name)}" for name in per_lead.values())
    # Only the model's own column names are spliced in (the selection's SQL is Django's, with
    # its values as parameters). WHERE TRUE: SQLite's grammar needs a WHERE before ON CONFLICT.
    # In lead order, as the calls are dialed in the order of their ids.
    sql = (
        f"INSERT INTO {quote(OutboundCallJob._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(['%s'] * len(values))}, {lead_columns} FROM ({selected_sql}) AS selected "
        f"WHERE TRUE ORDER BY selected.{quote('id')} ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *selected_params])
        return cursor.rowcount


def _skip_uncallable(*, run: OutboundCallRun, now) -> dict[str, int]:
    """Leads the run will not dial, marked skipped at once with their reason (error_code),
    on the same conditions "start calls" counted for its confirmation
    (selectors.run_start_preview): do-not-call, a number that cannot be dialed, a lead in a
    call of another run right now. A lead put on the do-not-call list later is still caught
    when its call is claimed."""
    queued = OutboundCallJob.objects.filter(run=run, status=CallStatus.QUEUED)
    skip = {"status": CallStatus.SKIPPED, "ended_at": now, "updated_at": now}
    busy_elsewhere = OutboundCallJob.objects.filter(
        business_id=run.business_id, status__in=OutboundCallJob.ACTIVE_STATUSES
    ).exclude(run=run)
    listed = DoNotCallNumber.objects.filter(business_id=run.business_id).values("phone")
    return {
        SKIP_DO_NOT_CALL: queued.filter(Q(lead__do_not_call=True) | Q(phone__in=listed)).update(
            **skip, outcome=Outcome.DO_NOT_CALL, error_code=SKIP_DO_NOT_CALL
        ),
        SKIP_INVALID: queued.exclude(phone__regex=DIALABLE_PHONE).update(
            **skip, outcome=Outcome.INVALID_NUMBER, error_code=SKIP_INVALID
        ),
        SKIP_IN_ACTIVE_CALL: queued.filter(lead_id__in=busy_elsewhere.values("lead_id")).update(
            **skip, outcome=Outcome.CANCELED, error_code=SKIP_IN_ACTIVE_CALL
        ),
    }


def _locked_run(*, business: Business, run_id: int) -> OutboundCallRun:
    run = (
        OutboundCallRun.objects.select_for_update(of=("self",))
        .select_related("background_job")
        .filter(business=business, pk=run_id)
        .first()
    )
    if run is None:
        raise NotFound(_("Run not found."))
    return run


def _not_now(run: OutboundCallRun) -> Conflict:
    return Conflict(
        _("The run is %(status)s; this cannot be done now.") % {"status": run.get_status_display()},
        extra={"run_id": run.pk, "status": run.status},
    )


def outbound_run_pause(*, business: Business, run_id: int) -> OutboundCallRun:
    """No new calls start; calls in progress finish."""
    with transaction.atomic():
        run = _locked_run(business=business, run_id=run_id)
        if run.status != RunStatus.RUNNING or run.cancel_requested_at:
            raise _not_now(run)
        run.status = RunStatus.PAUSED
        run.save(update_fields=["status"])
    return run


def outbound_run_resume(*, business: Business, run_id: int) -> OutboundCallRun:
    with transaction.atomic():
        run = _locked_run(business=business, run_id=run_id)
        if run.status != RunStatus.PAUSED or run.cancel_requested_at:
            raise _not_now(run)
        run.status = RunStatus.RUNNING
        run.save(update_fields=["status"])
        dispatch_fill_on_commit(run.pk)
    return run


def outbound_run_cancel(*, business: Business, run_id: int) -> OutboundCallRun:
    """Queued calls are canceled now, and calls still ringing are canceled at Twilio once
    this commits; calls already answered finish, then the run ends canceled. Twilio's
    callbacks for the canceled calls end them by the usual forward-only rules."""
    with transaction.atomic():
        run = _locked_run(business=business, run_id=run_id)
        if not run.is_active or run.cancel_requested_at:
            raise _not_now(run)
        now = timezone.now()
        run.cancel_requested_at = now
        run.save(update_fields=["cancel_requested_at"])
        calls_queued_cancel(run_id=run.pk, now=now)
        calls_ringing_cancel_on_commit(run_id=run.pk)
        if not OutboundCallJob.objects.filter(run=run, status__in=OutboundCallJob.ACTIVE_STATUSES).exists():
            run = run_finish(run_id=run.pk, status=RunStatus.CANCELED, message=_("Canceled on request."))
    return run


def calling_hours_changed(*, business: Business) -> int:
    """After the business's calling hours were changed or removed: the calls waiting for the
    old hours are weighed against the new ones by a fill of each of their runs, at once.
    Returns how many runs are filled."""
    with transaction.atomic():
        run_ids = calls_waiting_for_hours_due(business_id=business.pk, now=timezone.now())
        for run_id in sorted(run_ids):
            dispatch_fill_on_commit(run_id)
    return len(run_ids)
