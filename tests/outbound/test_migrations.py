"""Data migrations of existing rows: runs spell "canceled", calls keep their attempt and outcome."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("outbound", "0002_calling_hours"), ("leads", "0002_lead_import_id_index")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_runs_and_calls_migrate_to_one_spelling_with_their_attempts(business):
    old = migrate(BEFORE)
    now = timezone.now()
    Lead = old.get_model("leads", "Lead")
    Job = old.get_model("callcenter", "BackgroundJob")
    Run = old.get_model("outbound", "OutboundCallRun")
    Call = old.get_model("outbound", "OutboundCallJob")
    answered_lead = Lead.objects.create(business_id=business.pk, phone="+972507654321")
    unanswered_lead = Lead.objects.create(business_id=business.pk, phone="+972526000001")
    job = Job.objects.create(
        business_id=business.pk, job_type="enqueue_outbound_calls", status="cancelled", finished_at=now
    )
    run = Run.objects.create(business_id=business.pk, background_job=job, status="cancelled", finished_at=now)
    common = {"business_id": business.pk, "run": run, "status": "completed", "ended_at": now, "claim_number": 2}
    Call.objects.create(
        lead=answered_lead, phone=answered_lead.phone, outcome="answered", attempts=2, call_sid="CA1", **common
    )
    Call.objects.create(
        lead=unanswered_lead, phone=unanswered_lead.phone, outcome="no-answer", attempts=2, call_sid="CA2", **common
    )

    new = migrate(migrate_latest_targets())
    Run, Call, Attempt, Lead = (
        new.get_model("outbound", "OutboundCallRun"),
        new.get_model("outbound", "OutboundCallJob"),
        new.get_model("outbound", "CallAttempt"),
        new.get_model("leads", "Lead"),
    )
    assert Run.objects.get(pk=run.pk).status == "canceled"
    assert set(Call.objects.values_list("outcome", flat=True)) == {"answered", "no_answer"}
    attempts = {a.call_sid: a for a in Attempt.objects.all()}
    assert {sid: (a.attempt_number, a.outcome) for sid, a in attempts.items()} == {
        "CA1": (2, "answered"),
        "CA2": (2, "no_answer"),
    }
    answered = Lead.objects.get(pk=answered_lead.pk)
    assert (answered.last_outcome, answered.status, answered.call_attempts) == ("answered", "contacted", 2)
    assert answered.time_zone == "Asia/Jerusalem"
    assert Lead.objects.get(pk=unanswered_lead.pk).last_outcome == "no_answer"


def migrate_latest_targets():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()
