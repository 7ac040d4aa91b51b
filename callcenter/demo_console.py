"""A business as the console shows it on an ordinary day: leads with Hebrew names, an import
with rejected rows, a finished run with every kind of outcome, a run dialing now, a
recording and a download that failed. The screenshots and the page-by-page admin test
are taken against it.

The rows are written as the services leave them (a run's calls with their final
outcomes), without dialing anyone.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone

from callcenter.models import BackgroundJob, Business, Membership

FIRST_NAMES = ["דנה", "יוסי", "מיכל", "אבי", "רונית", "משה", "נועה", "איתי", "שירה", "עומר"]
LAST_NAMES = ["כהן", "לוי", "מזרחי", "פרץ", "ביטון", "אברהם", "פרידמן", "דהן", "אזולאי", "שפירא"]
# The finished run: how many of its leads ended with each outcome (status, outcome).
FINISHED_RUN = [
    ("completed", "answered", 14),
    ("completed", "machine", 2),
    ("failed", "busy", 3),
    ("failed", "no_answer", 4),
    ("failed", "failed", 1),
    ("skipped", "do_not_call", 2),
    ("canceled", "canceled", 4),
]
STAFF_PERMISSION_APPS = ("leads", "outbound", "recordings", "callcenter")


@dataclass
class ConsoleDemo:
    business: Business
    staff: object
    finished_run: object
    active_run: object
    lead_import: object


def _phone(index: int) -> str:
    return f"+9725{index // 10_000_000 % 10}{index % 10_000_000:07d}"


def _name(index: int) -> str:
    return f"{FIRST_NAMES[index % 10]} {LAST_NAMES[index // 10 % 10]}"


@transaction.atomic
def console_demo_create(*, business_name: str = "מוקד הדגמה", staff_username: str = "נציג", leads: int = 120):
    from leads.models import Lead, LeadImport
    from outbound.models import OutboundCallJob, OutboundCallRun
    from recordings.models import Recording, RecordingRun

    now = timezone.now()
    business = Business.objects.create(name=business_name)
    staff = get_user_model().objects.create_user(username=staff_username, password=None, is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label__in=STAFF_PERMISSION_APPS))
    Membership.objects.create(user=staff, business=business, role=Membership.Role.MANAGER)

    import_job = BackgroundJob.objects.create(
        business=business,
        job_type=BackgroundJob.JobType.IMPORT_LEADS,
        status=BackgroundJob.Status.SUCCEEDED,
        progress_done=leads + 3,
        progress_total=leads + 3,
        result={"created": leads, "updated": 0, "rejected": 3, "rows": leads + 3},
        created_by=staff,
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=3) + timedelta(seconds=4),
        created_at=now - timedelta(hours=3),
    )
    lead_import = LeadImport.objects.create(
        business=business,
        file_name="לקוחות-נובמבר.csv",
        created_by=staff,
        job=import_job,
        rows_total=leads + 3,
        rows_created=leads,
        rows_rejected=3,
        errors=[
            {"row": 7, "reason": "invalid_phone", "message": "מספר טלפון לא תקין.", "value": "03-12"},
            {"row": 19, "reason": "missing_phone", "message": "חסר מספר טלפון.", "value": ""},
            {
                "row": 44,
                "reason": "duplicate_in_file",
                "message": "המספר כבר הופיע בשורה 12.",
                "value": "+972501234567",
            },
        ],
        created_at=now - timedelta(hours=3),
    )
    created = Lead.objects.bulk_create(
        Lead(
            business=business,
            phone=_phone(1_234_000 + index),
            name=_name(index),
            # The finished run's two do-not-call skips, and a few more further on.
            do_not_call=index % 25 == 24 or index == 25,
            lead_import=lead_import,
            custom_fields={"עיר": ["תל אביב", "חיפה", "ירושלים"][index % 3]},
        )
        for index in range(leads)
    )

    def run_with_job(status: str, started, finished=None, *, total_leads: int, **extra):
        total = total_leads
        job = BackgroundJob.objects.create(
            business=business,
            job_type=BackgroundJob.JobType.ENQUEUE_OUTBOUND_CALLS,
            status=BackgroundJob.Status.SUCCEEDED if finished else BackgroundJob.Status.RUNNING,
            progress_total=total,
            created_by=staff,
            created_at=started,
            started_at=started,
            finished_at=finished,
        )
        return OutboundCallRun.objects.create(
            business=business,
            background_job=job,
            status=status,
            concurrency=3,
            max_attempts=2,
            created_by=staff,
            created_at=started,
            started_at=started,
            finished_at=finished,
            total_leads=total_leads,
            **extra,
        )

    finished_total = sum(count for _status, _outcome, count in FINISHED_RUN)
    started = now - timedelta(hours=2)
    finished_run = run_with_job(
        OutboundCallRun.Status.CANCELED,
        started,
        finished=started + timedelta(minutes=21),
        total_leads=finished_total,
        selection={"filter": {"lead_import": str(lead_import.pk)}},
        cancel_requested_at=started + timedelta(minutes=20),
        message="בוטלה לבקשתך.",
    )
    calls = []
    position = 0
    for status, outcome, count in FINISHED_RUN:
        for _ in range(count):
            lead = created[position]
            dialed = status in ("completed", "failed")
            answered = outcome in ("answered", "machine")
            at = started + timedelta(seconds=40 * position)
            calls.append(
                OutboundCallJob(
                    business=business,
                    run=finished_run,
                    lead=lead,
                    phone=lead.phone,
                    lead_name=lead.name,
                    status=status,
                    outcome=outcome,
                    attempts=(2 if outcome in ("busy", "no_answer") else 1) if dialed else 0,
                    call_sid=f"CA{business.pk:08d}{position + 1:024d}" if dialed else None,
                    twilio_status={"answered": "completed", "machine": "completed", "no_answer": "no-answer"}.get(
                        outcome, outcome
                    )
                    if dialed
                    else "",
                    dial_started_at=at if dialed else None,
                    answered_at=at + timedelta(seconds=6) if answered else None,
                    ended_at=at + timedelta(seconds=50),
                    duration_seconds=44 if answered else None,
                    error_code="do_not_call" if status == "skipped" else "",
                    created_at=started,
                )
            )
            position += 1
    OutboundCallJob.objects.bulk_create(calls)
    _history_of(finished_run)

    active_leads = created[position : position + 40]
    active_started = now - timedelta(minutes=6)
    active_run = run_with_job(
        OutboundCallRun.Status.RUNNING,
        active_started,
        total_leads=len(active_leads),
        selection={"lead_ids": [lead.pk for lead in active_leads]},
    )
    active_calls = []
    for index, lead in enumerate(active_leads):
        at = active_started + timedelta(seconds=30 * index)
        if index < 9:
            status, outcome = [("completed", "answered"), ("failed", "no_answer"), ("completed", "answered")][index % 3]
        elif index < 12:
            status, outcome = ("calling" if index < 11 else "dialing"), ""
        else:
            status, outcome = "queued", ""
        finished = status in ("completed", "failed")
        active_calls.append(
            OutboundCallJob(
                business=business,
                run=active_run,
                lead=lead,
                phone=lead.phone,
                lead_name=lead.name,
                status=status,
                outcome=outcome,
                attempts=1 if status != "queued" else 0,
                slot=index - 8 if status in ("calling", "dialing") else None,
                call_sid=f"CA{business.pk:08d}{1000 + index:024d}" if status not in ("queued", "dialing") else None,
                twilio_status={"calling": "in-progress", "completed": "completed", "failed": "no-answer"}.get(
                    status, ""
                ),
                claimed_at=at if status != "queued" else None,
                dial_started_at=at if status != "queued" else None,
                answered_at=at + timedelta(seconds=5) if outcome == "answered" or status == "calling" else None,
                ended_at=at + timedelta(seconds=40) if finished else None,
                duration_seconds=35 if outcome == "answered" else None,
                created_at=active_started,
            )
        )
    OutboundCallJob.objects.bulk_create(active_calls)
    _history_of(active_run)

    answered = OutboundCallJob.objects.filter(run=finished_run, outcome="answered").order_by("id")[:2]
    recordings = [
        Recording.objects.create(
            business=business,
            call_sid=call.call_sid,
            recording_sid=f"RE{call.pk:032d}",
            duration_seconds=44,
        )
        for call in answered
    ]
    # Every allowed download of the second one failed: it cannot be had any more.
    for attempt in range(settings.RECORDING_MAX_FAILED_RUNS):
        RecordingRun.objects.create(
            business=business,
            recording=recordings[1],
            call_sid=recordings[1].call_sid,
            status=RecordingRun.Status.FAILED,
            attempts=3,
            error_message="Twilio answered 404 for the recording media.",
            created_at=now - timedelta(minutes=50 - 2 * attempt),
            finished_at=now - timedelta(minutes=49 - 2 * attempt),
        )
    BackgroundJob.objects.create(
        business=business,
        job_type=BackgroundJob.JobType.UPDATE_LEADS,
        status=BackgroundJob.Status.FAILED,
        progress_done=2000,
        progress_total=5200,
        payload={"selection": {"filter": {"status": ["new"]}}, "changes": {"status": "contacted"}},
        result={"updated": 2000, "skipped": 0},
        error_message="Failed: connection to server at /var/run/postgresql/.s.PGSQL.5432 failed",
        created_by=staff,
        created_at=now - timedelta(minutes=30),
        started_at=now - timedelta(minutes=30),
        finished_at=now - timedelta(minutes=29),
    )
    return ConsoleDemo(
        business=business, staff=staff, finished_run=finished_run, active_run=active_run, lead_import=lead_import
    )


def _history_of(run) -> None:
    """The call history of a run's dialed calls: a retried lead's earlier attempt ended as
    the retry's reason (busy / no answer), its last one as the call did."""
    from leads.models import Lead
    from outbound.models import CallAttempt, OutboundCallJob

    attempts = []
    for call in OutboundCallJob.objects.filter(run=run, status__in=["completed", "failed"]).order_by("id"):
        for number in range(1, call.attempts + 1):
            last = number == call.attempts
            started = call.dial_started_at - timedelta(minutes=5 * (call.attempts - number))
            attempts.append(
                CallAttempt(
                    business_id=call.business_id,
                    run=run,
                    call=call,
                    lead_id=call.lead_id,
                    phone=call.phone,
                    lead_name=call.lead_name,
                    attempt_number=number,
                    claim_number=number,
                    call_sid=call.call_sid if last else f"CA{call.business_id:08d}9{call.pk:019d}{number:04d}",
                    claimed_at=started,
                    dial_started_at=started,
                    answered_at=call.answered_at if last else None,
                    ended_at=call.ended_at if last else started + timedelta(seconds=30),
                    duration_seconds=call.duration_seconds if last else None,
                    twilio_status=call.twilio_status if last else call.twilio_status or "busy",
                    outcome=call.outcome,
                )
            )
        Lead.objects.filter(pk=call.lead_id).update(
            last_outcome=call.outcome, last_called_at=call.ended_at, call_attempts=call.attempts
        )
    CallAttempt.objects.bulk_create(attempts)
