"""run_outcome_counts: finished leads by final outcome, the numbers the API and the admin show."""

import pytest
from django.utils import timezone

from callcenter.models import BackgroundJob
from outbound.models import OutboundCallJob, OutboundCallRun
from outbound.selectors import OUTCOME_KEYS, run_outcome_counts
from tests.plugins.outbound import make_leads

CallStatus = OutboundCallJob.Status
Outcome = OutboundCallJob.Outcome


def _run(business):
    job = BackgroundJob.objects.create(
        business=business, job_type=BackgroundJob.JobType.ENQUEUE_OUTBOUND_CALLS, status="running"
    )
    return OutboundCallRun.objects.create(business=business, background_job=job, status="running")


@pytest.mark.django_db
def test_only_finished_leads_count_each_under_its_own_outcome(business):
    run = _run(business)
    rows = [
        (CallStatus.COMPLETED, Outcome.ANSWERED),
        (CallStatus.COMPLETED, Outcome.ANSWERED),
        (CallStatus.COMPLETED, Outcome.MACHINE),
        (CallStatus.FAILED, Outcome.BUSY),
        (CallStatus.FAILED, Outcome.NO_ANSWER),
        (CallStatus.FAILED, Outcome.FAILED),
        (CallStatus.CANCELED, Outcome.CANCELED),
        (CallStatus.SKIPPED, Outcome.DO_NOT_CALL),
        # Not finished: a retry is pending, a call is in progress, one waits its turn.
        (CallStatus.QUEUED, Outcome.BUSY),
        (CallStatus.CALLING, ""),
        (CallStatus.QUEUED, ""),
    ]
    leads = make_leads(business, len(rows))
    now = timezone.now()
    OutboundCallJob.objects.bulk_create(
        OutboundCallJob(
            business=business,
            run=run,
            lead=lead,
            phone=lead.phone,
            status=status,
            outcome=outcome,
            slot=1 if status == CallStatus.CALLING else None,
            ended_at=now if status in OutboundCallJob.FINAL_STATUSES else None,
        )
        for lead, (status, outcome) in zip(leads, rows, strict=True)
    )

    counts = run_outcome_counts(run=run)

    assert set(counts) == set(OUTCOME_KEYS)
    assert counts == {
        "answered": 2,
        "busy": 1,
        "no_answer": 1,
        "machine": 1,
        "failed": 1,
        "invalid_number": 0,
        "do_not_call": 1,
        "opted_out": 0,
        "canceled": 1,
    }
    assert (
        sum(counts.values())
        == OutboundCallJob.objects.filter(run=run, status__in=OutboundCallJob.FINAL_STATUSES).count()
    )
