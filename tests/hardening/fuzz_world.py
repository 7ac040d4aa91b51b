"""Real data of two tenants for the fuzz runs: tenant A's user fuzzes, tenant B's rows must
stay out of reach."""

from dataclasses import dataclass

from django.utils import timezone
from rest_framework.authtoken.models import Token

from callcenter.models import BackgroundJob
from leads.models import Lead, LeadImport
from outbound.models import OutboundCallJob, OutboundCallRun
from recordings.models import Recording
from tests.factories import BusinessFactory, MembershipFactory
from tests.plugins.recordings import recording_create, recording_store, wav_bytes


@dataclass
class FuzzWorld:
    business_id: int
    token: str
    call_sid: str


def _tenant(name: str, *, first_number: int) -> tuple:
    business = BusinessFactory(name=name)
    user = MembershipFactory(business=business).user
    lead_import = LeadImport.objects.create(business=business, file_name="leads.csv", rows_total=3)
    leads = [
        Lead.objects.create(
            business=business,
            phone=f"+9725{first_number + number:08d}",
            name=f"{name} lead {number}",
            custom_fields={"campaign": "spring", "n": number},
            lead_import=lead_import if number < 3 else None,
        )
        for number in range(12)
    ]
    BackgroundJob.objects.create(
        business=business,
        job_type=BackgroundJob.JobType.DELETE_LEADS,
        status=BackgroundJob.Status.SUCCEEDED,
        payload={"selection": {"lead_ids": [1]}},
        finished_at=timezone.now(),
    )
    return business, user, leads


def _finished_run(business, leads, *, call_sid: str) -> OutboundCallRun:
    job = BackgroundJob.objects.create(
        business=business,
        job_type=BackgroundJob.JobType.ENQUEUE_OUTBOUND_CALLS,
        status=BackgroundJob.Status.SUCCEEDED,
        finished_at=timezone.now(),
    )
    run = OutboundCallRun.objects.create(
        business=business, background_job=job, status=OutboundCallRun.Status.SUCCEEDED, total_leads=2
    )
    now = timezone.now()
    for number, lead in enumerate(leads[:2]):
        OutboundCallJob.objects.create(
            business=business,
            run=run,
            lead=lead,
            phone=lead.phone,
            lead_name=lead.name,
            status=OutboundCallJob.Status.COMPLETED,
            outcome=OutboundCallJob.Outcome.ANSWERED,
            attempts=1,
            call_sid=call_sid if number == 0 else f"{call_sid[:-1]}9",
            dial_started_at=now,
            answered_at=now,
            ended_at=now,
            duration_seconds=12,
        )
    return run


def fuzz_world_create() -> FuzzWorld:
    business, user, leads = _tenant("Tenant A", first_number=10_000_000)
    call_sid = "CA" + "a" * 32
    _finished_run(business, leads, call_sid=call_sid)
    recording_store(recording_create(business=business, call_sid=call_sid), wav_bytes(seconds=0.5))
    other, _other_user, other_leads = _tenant("Tenant B", first_number=20_000_000)
    _finished_run(other, other_leads, call_sid="CA" + "b" * 32)
    recording_store(recording_create(business=other, call_sid="CA" + "b" * 32), wav_bytes(seconds=0.5))
    assert Recording.objects.count() == 2
    return FuzzWorld(business_id=business.pk, token=Token.objects.create(user=user).key, call_sid=call_sid)
