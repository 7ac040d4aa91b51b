"""The per-call path's own helpers: statements sent in turn, rows read by column name, the
run's calls queued in SQL, the due calls locked with the run, the wake-up query spared,
the commits that do not wait for their flush, the task broker and the callback forms."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.client import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from callcenter import task_queue
from leads.models import DoNotCallNumber
from leads.services import do_not_call_number_add
from outbound import services
from outbound.models import OutboundCallJob, OutboundCallRun, RunWakeup
from outbound.services.call_transitions import Claim, call_sid_record
from outbound.services.sql import execute_in_turn, rows_as
from outbound.services.wakeups import ActiveCall, run_wakeup_stands
from outbound.webhooks import CallStatusCallbackForm
from tests.plugins.outbound import make_leads

CallStatus = OutboundCallJob.Status


def start_run(business, count, *, concurrency=3):
    leads = make_leads(business, count)
    return services.outbound_run_start(
        business=business, selection={"lead_ids": [lead.pk for lead in leads]}, concurrency=concurrency
    )


def finish(fake, call, status="completed"):
    params = fake.progress(call, status)
    return services.call_status_callback_record(job_id=call.job_id, claim_number=call.claim, params=params)


# --- sql helpers --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_statements_in_turn_each_see_the_ones_before_and_return_each_read(business, fake_twilio):
    run = start_run(business, 2, concurrency=1)
    queued = OutboundCallJob.objects.get(run=run, status=CallStatus.QUEUED)
    with transaction.atomic():
        changed, seen, nothing = execute_in_turn(
            [
                (
                    "UPDATE outbound_call_jobs SET lead_name = %s WHERE id = %s",
                    ["Renamed", queued.pk],
                    lambda c: c.rowcount,
                ),
                ("SELECT lead_name FROM outbound_call_jobs WHERE id = %s", [queued.pk], lambda c: c.fetchone()[0]),
                ("UPDATE outbound_call_jobs SET lead_name = %s WHERE id = %s", ["x", -1], lambda c: c.rowcount),
            ]
        )
    assert (changed, seen, nothing) == (1, "Renamed", 0)


@dataclass(frozen=True)
class NameAndPhone:
    lead_name: str
    phone: str


@pytest.mark.django_db(transaction=True)
def test_rows_are_read_by_column_name_and_a_missing_column_is_an_error(business, fake_twilio):
    run = start_run(business, 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, phone, status, lead_name FROM outbound_call_jobs WHERE run_id = %s", [run.pk])
        (row,) = rows_as(cursor, NameAndPhone)
        cursor.execute("SELECT id, phone FROM outbound_call_jobs WHERE run_id = %s", [run.pk])
        with pytest.raises(LookupError, match="lead_name"):
            rows_as(cursor, NameAndPhone)
    assert row == NameAndPhone(lead_name="Lead 0", phone=OutboundCallJob.objects.get(run=run).phone)


# --- queueing a run's calls ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_run_queues_one_call_per_selected_lead_in_lead_order_with_the_model_defaults(business, settings):
    settings.OUTBOUND_DISPATCH = "queue"  # nothing dialed: the calls stay as queued
    leads = make_leads(business, 4)
    selection = {"lead_ids": [leads[2].pk, leads[0].pk, leads[2].pk, leads[3].pk, leads[1].pk]}
    run = services.outbound_run_start(business=business, selection=selection)
    calls = list(OutboundCallJob.objects.filter(run=run).order_by("id"))
    assert run.total_leads == 4 and [call.lead_id for call in calls] == [lead.pk for lead in leads]
    fresh = OutboundCallJob()
    for call in calls:
        assert (call.business_id, call.phone, call.lead_name, call.time_zone) == (
            business.pk,
            call.lead.phone,
            call.lead.name,
            call.lead.time_zone,
        )
        for name in ("status", "outcome", "attempts", "claim_number", "dial_errors", "slot", "call_sid"):
            assert getattr(call, name) == getattr(fresh, name), name
        assert (call.last_sequence_number, call.waiting_for_hours) == (-1, False)
        assert call.next_attempt_at == call.created_at == call.updated_at


# --- claiming -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_more_do_not_call_leads_than_slots_are_skipped_and_the_next_lead_is_dialed_in_the_same_fill(
    business, fake_twilio
):
    run = start_run(business, 6, concurrency=1)
    assert len(fake_twilio.calls) == 1
    queued = list(OutboundCallJob.objects.filter(run=run, status=CallStatus.QUEUED).order_by("id"))
    for call in queued[:4]:  # more than the due calls a fill locks with the run
        do_not_call_number_add(business_id=business.pk, phone=call.phone, source=DoNotCallNumber.Source.STAFF)
    finish(fake_twilio, fake_twilio.calls[0])
    assert [call.job_id for call in fake_twilio.calls[1:]] == [queued[4].pk]
    skipped = OutboundCallJob.objects.filter(run=run, status=CallStatus.SKIPPED, outcome="do_not_call")
    assert sorted(skipped.values_list("id", flat=True)) == [call.pk for call in queued[:4]]


# --- the next wake-up ---------------------------------------------------------------------


def active(seconds_ago: float, *, has_sid=True) -> ActiveCall:
    moment = timezone.now() - timedelta(seconds=seconds_ago)
    return ActiveCall(slot=1, has_sid=has_sid, last_event_at=moment, dial_started_at=moment, claimed_at=moment)


def test_the_arranged_wake_up_stands_only_when_every_slot_is_held_and_no_call_is_due_before_it(settings):
    settings.OUTBOUND_STUCK_CALL_SECONDS = 60
    soon, later = timezone.now() + timedelta(seconds=10), timezone.now() + timedelta(seconds=120)
    three = [active(0), active(1), active(2)]
    assert run_wakeup_stands(arranged=soon, active=three, concurrency=3)
    assert run_wakeup_stands(arranged=soon.isoformat(), active=three, concurrency=3)  # as SQLite answers
    assert not run_wakeup_stands(arranged=None, active=three, concurrency=3)
    assert not run_wakeup_stands(arranged=soon, active=three[:2], concurrency=3)  # a free slot
    assert not run_wakeup_stands(arranged=later, active=three, concurrency=3)  # a call due first


@pytest.mark.django_db(transaction=True)
def test_a_fill_that_leaves_every_slot_held_spares_the_wake_up_query_and_the_wake_up_stays(business, fake_twilio):
    run = start_run(business, 6)
    arranged = RunWakeup.objects.get(run=run).due_at
    assert arranged is not None
    with CaptureQueriesContext(connection) as queries:
        finish(fake_twilio, fake_twilio.calls[0])
    assert len(fake_twilio.calls) == 4
    assert not [query for query in queries if "SELECT 'run'" in query["sql"]]
    assert RunWakeup.objects.get(run=run).due_at == arranged
    # A fill that leaves a slot free still asks the database (and arranges what it finds).
    with CaptureQueriesContext(connection) as queries:
        for call in fake_twilio.calls[1:4]:
            finish(fake_twilio, call)
    assert [query for query in queries if "SELECT 'run'" in query["sql"]]
    for call in fake_twilio.calls[4:]:
        finish(fake_twilio, call)
    run.refresh_from_db()
    assert run.status == OutboundCallRun.Status.SUCCEEDED


# --- commits that do not wait for their flush ---------------------------------------------


@pytest.mark.postgresql("PostgreSQL's commit settings")
@pytest.mark.django_db(transaction=True)
def test_the_claim_and_the_sid_commit_without_waiting_for_their_flush_but_not_a_callers_transaction(
    business, fake_twilio
):
    with CaptureQueriesContext(connection) as queries:
        run = start_run(business, 1)
    flush_off = [q["sql"] for q in queries if "synchronous_commit" in q["sql"]]
    assert any(sql.lstrip().startswith("UPDATE outbound_call_jobs SET status") for sql in flush_off)  # the claim
    assert any(sql.lstrip().startswith("UPDATE outbound_call_jobs SET call_sid") for sql in flush_off)
    call = fake_twilio.calls[0]
    OutboundCallJob.objects.filter(pk=call.job_id).update(call_sid=None)
    claim = Claim(
        job_id=call.job_id,
        run_id=run.pk,
        business_id=business.pk,
        claim_number=call.claim,
        phone=call.to,
        dial_errors=0,
        slot=1,
        claimed_at=timezone.now(),
    )
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        assert call_sid_record(claim=claim, call_sid=call.sid)
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('synchronous_commit')")
            assert cursor.fetchone()[0] == "on"
    assert not [q for q in queries if "synchronous_commit" in q["sql"] and "UPDATE" in q["sql"]]


# --- the task broker and the callback forms -----------------------------------------------


def test_the_task_broker_is_made_once_per_process_with_redis_and_left_to_django_q_with_the_orm(monkeypatch):
    made = []
    monkeypatch.setattr(task_queue, "_broker", None)
    monkeypatch.setattr(task_queue, "get_broker", lambda: made.append(object()) or made[-1])
    monkeypatch.setattr(task_queue.Conf, "ORM", None)
    first, second = task_queue.queue_broker(), task_queue.queue_broker()
    assert first is second is made[0] and len(made) == 1
    monkeypatch.setattr(task_queue.Conf, "ORM", "default")
    assert task_queue.queue_broker() is None


def test_callback_forms_share_their_fields_and_a_post_parameter_wins_over_the_query():
    request = RequestFactory().post("/cb?job_id=5&claim=2", {"CallSid": "CA1", "CallStatus": "completed", "claim": "3"})
    first, second = CallStatusCallbackForm(request), CallStatusCallbackForm(request)
    assert first.fields is second.fields is CallStatusCallbackForm.base_fields
    assert first.is_valid() and (first.cleaned_data["job_id"], first.cleaned_data["claim"]) == (5, 3)
    bad = RequestFactory().post("/cb?job_id=5", {"CallSid": "CA1", "CallStatus": "completed", "AnsweredBy": "x\x00"})
    form = CallStatusCallbackForm(bad)
    assert not form.is_valid() and "__all__" in form.errors
    assert CallStatusCallbackForm(request).is_valid()  # an invalid form left the shared fields as they were


# --- prepared statements ------------------------------------------------------------------


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


@pytest.mark.postgresql("PostgreSQL's prepared statements")
@pytest.mark.django_db(transaction=True)
def test_the_per_call_statements_are_prepared_on_the_connection_and_djangos_own_queries_are_not(business, fake_twilio):
    run = start_run(business, 4)
    with CaptureQueriesContext(connection) as queries:
        finish(fake_twilio, fake_twilio.calls[0])
    prepared = prepared_statements()
    hot = ("FOR UPDATE OF j", "INSERT INTO call_events", "INSERT INTO outbound_call_attempts", "SET call_sid")
    for statement in hot:
        assert any(statement in text for text in prepared), statement
    assert all(query["sql"] for query in queries)  # the query log still shows each statement
    assert OutboundCallJob.objects.filter(run=run).count() == 4  # an ORM query, bound on the client
    assert not any('"outbound_call_jobs"."run_id"' in text for text in prepared)


@pytest.mark.postgresql("PostgreSQL's prepared statements")
@pytest.mark.django_db(transaction=True)
def test_without_prepared_statements_the_statements_in_turn_go_in_one_round_trip(business, fake_twilio, settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    connection.close()  # a connection that never prepared anything
    with CaptureQueriesContext(connection) as queries:
        start_run(business, 2)
    assert not prepared_statements()
    run_lock = [query["sql"] for query in queries if "SELECT r.id, r.status, r.concurrency" in query["sql"]]
    assert run_lock and all("SKIP LOCKED" in sql for sql in run_lock)  # with the due calls, in one query
    assert len(fake_twilio.calls) == 2
