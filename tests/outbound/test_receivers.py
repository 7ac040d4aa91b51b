"""Outbound's side of other apps' events: an abandoned run job, and leads being deleted."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from callcenter.models import BackgroundJob
from callcenter.services import background_jobs_fail_stale
from leads import services as leads_services
from leads import tasks as leads_tasks
from leads.models import Lead
from leads.signals import lead_batch_pre_delete
from outbound import services
from outbound.models import OutboundCallJob, OutboundCallRun
from tests.plugins.outbound import make_leads

CallStatus = OutboundCallJob.Status


@pytest.mark.django_db(transaction=True)
def test_stale_run_job_fails_its_run_and_cancels_its_queued_calls_before_a_new_run(business, fake_twilio):
    leads = make_leads(business, 6)
    old = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads[:5]]})
    BackgroundJob.objects.filter(pk=old.background_job_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    new = services.outbound_run_start(business=business, selection={"lead_ids": [leads[5].pk]})
    old.refresh_from_db()
    assert old.status == OutboundCallRun.Status.FAILED and old.finished_at is not None
    assert OutboundCallJob.objects.filter(run=old, status=CallStatus.QUEUED).count() == 0
    assert OutboundCallJob.objects.filter(run=old, status=CallStatus.CANCELED).count() == 2
    # Its calls in progress may finish, but it never dials again.
    services.run_fill_slots(run_id=old.pk)
    call = next(c for c in fake_twilio.calls if c.job_id in set(old.calls.values_list("id", flat=True)))
    services.call_status_callback_record(
        job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "completed")
    )
    assert len(fake_twilio.calls) == 4 and new.status == OutboundCallRun.Status.RUNNING


@pytest.mark.django_db(transaction=True)
def test_scheduled_stale_recovery_fails_the_run_too(business, fake_twilio):
    leads = make_leads(business, 4)
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    BackgroundJob.objects.filter(pk=run.background_job_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert background_jobs_fail_stale() == 1
    run.refresh_from_db()
    assert run.status == OutboundCallRun.Status.FAILED


@pytest.mark.django_db(transaction=True)
def test_fills_heartbeat_the_run_job_so_a_long_run_is_not_taken_for_abandoned(business, fake_twilio):
    leads = make_leads(business, 4)
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    old = timezone.now() - timedelta(minutes=9)
    BackgroundJob.objects.filter(pk=run.background_job_id).update(heartbeat_at=old)
    services.runs_tick()
    assert BackgroundJob.objects.get(pk=run.background_job_id).heartbeat_at > old + timedelta(minutes=8)


@pytest.mark.django_db(transaction=True)
def test_lead_delete_keeps_leads_in_a_call_and_detaches_the_others(business, fake_twilio):
    leads = make_leads(business, 5)
    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    in_call = set(run.calls.filter(status=CallStatus.DIALING).values_list("lead_id", flat=True))
    ids = [lead.pk for lead in leads]
    with transaction.atomic():
        answers = lead_batch_pre_delete.send(sender=Lead, business=business, lead_ids=ids)
        keep = set().union(*(answer for _receiver, answer in answers))
        Lead.objects.filter(pk__in=set(ids) - keep).delete()
    assert keep == in_call
    assert run.calls.filter(status=CallStatus.CANCELED, lead__isnull=True).count() == 2
    assert set(run.calls.filter(status=CallStatus.DIALING).values_list("lead_id", flat=True)) == in_call


@pytest.mark.postgresql("a second connection commits inside the batch's transaction")
@pytest.mark.django_db(transaction=True)
def test_a_run_started_while_its_leads_are_being_deleted_keeps_the_lead_in_a_call(business, fake_twilio, settings):
    """The race the batch's foreign-key check closes: a call committed for a lead after the
    receivers looked. The batch fails its key, is done again, and keeps that lead."""
    settings.LEADS_JOB_BATCH_SIZE = 1000
    leads = make_leads(business, 30)
    target = leads[10]
    started = []

    def start_a_run_meanwhile(sender, business, lead_ids, **kwargs):
        if started:
            return set()

        def start() -> None:
            try:
                started.append(services.outbound_run_start(business=business, selection={"lead_ids": [target.pk]}))
            finally:
                connection.close()

        thread = threading.Thread(target=start)
        thread.start()
        thread.join()
        return set()

    # Connected after outbound's receiver, so it runs after outbound has looked.
    lead_batch_pre_delete.connect(start_a_run_meanwhile, sender=Lead, weak=False)
    try:
        job = leads_services.leads_bulk_delete_start(business=business, selection={"filter": {}})
        leads_tasks.delete_leads(job.pk)
    finally:
        lead_batch_pre_delete.disconnect(start_a_run_meanwhile, sender=Lead)

    job.refresh_from_db()
    assert job.status == BackgroundJob.Status.SUCCEEDED, job.error_message
    assert job.result["deleted"] == 29 and job.result["skipped_in_active_call"] == 1
    assert list(Lead.objects.filter(business=business).values_list("pk", flat=True)) == [target.pk]
    call = started[0].calls.get()
    assert call.lead_id == target.pk and call.status == CallStatus.DIALING
