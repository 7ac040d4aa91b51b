from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from callcenter import services as job_services
from callcenter.models import BackgroundJob
from leads import services
from leads.errors import LeadInputInvalid
from leads.models import Lead
from leads.signals import lead_batch_pre_delete
from tests.leads.helpers import run_job
from tests.plugins.leads import LeadFactory, insert_leads

pytestmark = pytest.mark.django_db
Status = BackgroundJob.Status


@pytest.fixture
def small_batches(settings):
    settings.LEADS_JOB_BATCH_SIZE = 1000


@pytest.fixture
def receiver():
    """Connect a temporary lead_batch_pre_delete receiver."""
    connected = []

    def connect(function):
        lead_batch_pre_delete.connect(function, sender=Lead, weak=False)
        connected.append(function)
        return function

    yield connect
    for function in connected:
        lead_batch_pre_delete.disconnect(function, sender=Lead)


def test_delete_by_filter_deletes_only_matching_leads_of_the_business(business, other_business, small_batches):
    insert_leads(business, 2500, status="new")
    insert_leads(business, 700, status="contacted", first_number=10_000)
    insert_leads(other_business, 300, status="new")

    job = services.leads_bulk_delete_start(business=business, selection={"filter": {"status": ["new"]}})
    job = run_job(job.pk)

    assert job.status == Status.SUCCEEDED
    assert (job.progress_done, job.progress_total) == (2500, 2500)
    assert job.result == {"total": 2500, "deleted": 2500, "skipped_in_active_call": 0}
    assert Lead.objects.filter(business=business).count() == 700
    assert Lead.objects.filter(business=other_business).count() == 300


def test_delete_by_ids_ignores_another_businesss_ids(business, other_business):
    mine, theirs = LeadFactory(business=business), LeadFactory(business=other_business)
    job = services.leads_bulk_delete_start(business=business, selection={"lead_ids": [mine.pk, theirs.pk]})
    assert run_job(job.pk).result["deleted"] == 1
    assert Lead.objects.filter(pk=theirs.pk).exists() and not Lead.objects.filter(pk=mine.pk).exists()


def test_lead_in_an_active_call_is_not_deleted_and_reported_skipped(business, receiver, small_batches):
    insert_leads(business, 2000)
    in_call = Lead.objects.filter(business=business).order_by("pk")[1500]
    seen_batches = []

    @receiver
    def keep_lead_in_call(sender, business, lead_ids, **kwargs):
        seen_batches.append(len(lead_ids))
        return {in_call.pk} & set(lead_ids)

    job = run_job(services.leads_bulk_delete_start(business=business, selection={"filter": {}}).pk)

    assert job.status == Status.SUCCEEDED
    assert job.result == {"total": 2000, "deleted": 1999, "skipped_in_active_call": 1}
    assert list(Lead.objects.filter(business=business).values_list("pk", flat=True)) == [in_call.pk]
    assert seen_batches == [1000, 1000]


def test_single_delete_of_a_lead_in_a_call_is_a_conflict(business, receiver):
    lead = LeadFactory(business=business)
    receiver(lambda sender, business, lead_ids, **kwargs: set(lead_ids))
    with pytest.raises(services.Conflict):
        services.lead_delete(business=business, lead_id=lead.pk)
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_cancel_in_the_middle_stops_between_batches_and_keeps_the_rest(business, receiver, small_batches):
    insert_leads(business, 5000)
    job = services.leads_bulk_delete_start(business=business, selection={"filter": {}})

    @receiver
    def cancel_during_first_batch(sender, business, lead_ids, **kwargs):
        job_services.background_job_request_cancel(business=business, job_id=job.pk)

    job = run_job(job.pk)

    assert job.status == Status.CANCELLED
    assert (job.progress_done, job.progress_total) == (1000, 5000)
    assert job.result["deleted"] == 1000
    assert "1000" in job.error_message
    assert Lead.objects.filter(business=business).count() == 4000


def test_delete_imported_leads_removes_only_what_that_import_created(business):
    from leads.models import LeadImport

    lead_import = LeadImport.objects.create(business=business, file_name="a.csv")
    insert_leads(business, 1200, lead_import=lead_import)
    insert_leads(business, 50, first_number=50_000)
    job = run_job(services.lead_import_delete_start(business=business, import_id=lead_import.pk).pk)
    assert job.result == {"import_id": lead_import.pk, "total": 1200, "deleted": 1200, "skipped_in_active_call": 0}
    assert Lead.objects.filter(business=business).count() == 50


def test_bulk_update_sets_fields_and_merges_custom_fields(business, other_business, small_batches):
    insert_leads(business, 1500)
    Lead.objects.filter(business=business).update(custom_fields={"city": "Haifa", "source": "old"})
    untouched = LeadFactory(business=other_business)
    job = services.leads_bulk_update_start(
        business=business,
        selection={"filter": {"status": "new"}},
        changes={"status": "contacted", "do_not_call": True, "custom_fields": {"source": "fair"}},
    )
    job = run_job(job.pk)
    assert job.status == Status.SUCCEEDED
    assert job.result == {"total": 1500, "updated": 1500, "skipped": 0}
    assert set(Lead.objects.filter(business=business).values_list("status", "do_not_call")) == {("contacted", True)}
    merged = Lead.objects.filter(business=business, custom_fields__city="Haifa", custom_fields__source="fair")
    assert merged.count() == 1500
    untouched.refresh_from_db()
    assert untouched.status == "new"


def _install_failing_trigger(lead_id: int) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER fail_on_lead BEFORE UPDATE ON leads FOR EACH ROW WHEN OLD.id = {int(lead_id)} "
                f"BEGIN SELECT RAISE(ABORT, 'injected failure on lead {int(lead_id)}'); END"
            )
            return
        cursor.execute(
            """
            CREATE OR REPLACE FUNCTION fail_on_lead() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'injected failure on lead %', OLD.id; END $$ LANGUAGE plpgsql;
            """
        )
        cursor.execute(
            f"CREATE TRIGGER fail_on_lead BEFORE UPDATE ON leads FOR EACH ROW "
            f"WHEN (OLD.id = {int(lead_id)}) EXECUTE FUNCTION fail_on_lead()"
        )


def _drop_failing_trigger() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER fail_on_lead" + (" ON leads" if connection.vendor == "postgresql" else ""))


def test_failure_in_the_middle_of_a_batch_leaves_no_lead_half_updated(business, small_batches):
    insert_leads(business, 3000)
    ids = list(Lead.objects.filter(business=business).order_by("pk").values_list("pk", flat=True))
    # The second batch fails on its 500th lead, after 499 of its rows were already changed.
    _install_failing_trigger(ids[1499])
    changes = {"status": "interested", "do_not_call": True, "custom_fields": {"wave": "2"}}
    job = run_job(services.leads_bulk_update_start(business=business, selection={"filter": {}}, changes=changes).pk)

    assert job.status == Status.FAILED and "injected failure" in job.error_message
    assert job.progress_done == 1000 and job.result["updated"] == 1000
    updated = Lead.objects.filter(business=business, status="interested", do_not_call=True, custom_fields__wave="2")
    assert list(updated.order_by("pk").values_list("pk", flat=True)) == ids[:1000]
    assert Lead.objects.filter(business=business, status="new", do_not_call=False, custom_fields={}).count() == 2000
    _drop_failing_trigger()


@pytest.mark.parametrize("job_type", ["delete_leads", "update_leads"])
def test_killed_worker_recovered_after_the_stale_threshold_and_new_job_completes(business, small_batches, job_type):
    insert_leads(business, 3000)
    start = {
        "delete_leads": lambda: services.leads_bulk_delete_start(business=business, selection={"filter": {}}),
        "update_leads": lambda: services.leads_bulk_update_start(
            business=business, selection={"filter": {}}, changes={"status": "contacted"}
        ),
    }[job_type]
    first = start()
    # The worker dies after its first batch: the job stays running with an old heartbeat.
    job_services.background_job_mark_running(job_id=first.pk)
    first_ids = list(Lead.objects.filter(business=business).order_by("pk").values_list("pk", flat=True)[:1000])
    if job_type == "delete_leads":
        services.leads_delete_batch(business=business, lead_ids=first_ids)
    else:
        services.leads_update_batch(business=business, lead_ids=first_ids, changes={"status": "contacted"})
    BackgroundJob.objects.filter(pk=first.pk).update(
        progress_done=1000, progress_total=3000, heartbeat_at=timezone.now() - timedelta(minutes=9)
    )
    with pytest.raises(job_services.ActiveJobExists):
        start()  # not stale yet

    BackgroundJob.objects.filter(pk=first.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    second = run_job(start().pk)

    first.refresh_from_db()
    assert first.status == Status.FAILED and "running" in first.error_message
    assert second.status == Status.SUCCEEDED
    if job_type == "delete_leads":
        assert second.result["deleted"] == 2000 and not Lead.objects.filter(business=business).exists()
    else:
        assert second.result["updated"] == 3000
        assert not Lead.objects.filter(business=business).exclude(status="contacted").exists()


def test_a_lost_job_stops_without_touching_more_batches(business, small_batches, receiver):
    insert_leads(business, 3000)
    job = services.leads_bulk_delete_start(business=business, selection={"filter": {}})

    @receiver
    def taken_over(sender, business, lead_ids, **kwargs):
        # Another request failed this job as stale while its batch was running.
        BackgroundJob.objects.filter(pk=job.pk).update(status=Status.FAILED, finished_at=timezone.now())

    run_job(job.pk)
    assert Lead.objects.filter(business=business).count() == 2000


@pytest.mark.parametrize(
    "selection",
    [
        {},
        {"lead_ids": [1], "filter": {}},
        {"lead_ids": "1,2"},
        {"lead_ids": [True]},
        {"filter": {"colour": "red"}},
        {"filter": {"do_not_call": "maybe"}},
        {"filter": {"status": "sleeping"}},
        {"filter": {"lead_import": "x"}},
        {"filter": []},
    ],
)
def test_bad_selections_are_rejected_before_a_job_starts(business, selection):
    with pytest.raises(LeadInputInvalid):
        services.leads_bulk_delete_start(business=business, selection=selection)
    assert not BackgroundJob.objects.exists()


@pytest.mark.parametrize(
    "changes",
    [{}, {"status": "sleeping"}, {"do_not_call": "yes"}, {"custom_fields": ["a"]}, {"custom_fields": {"": 1}}],
)
def test_bad_changes_are_rejected(business, changes):
    with pytest.raises(LeadInputInvalid):
        services.leads_bulk_update_start(business=business, selection={"filter": {}}, changes=changes)


def test_a_row_appearing_inside_a_batch_range_is_not_deleted_unseen(business, receiver, small_batches):
    insert_leads(business, 1500)
    ids = list(Lead.objects.filter(business=business).order_by("pk").values_list("pk", flat=True))
    gap = ids[500]
    Lead.objects.filter(pk=gap).delete()
    calls = []

    @receiver
    def insert_into_the_gap(sender, business, lead_ids, **kwargs):
        calls.append((lead_ids[0], len(lead_ids)))
        assert gap not in lead_ids
        if len(calls) == 1:
            # Committed into the batch's id range after the batch was listed: the range
            # DELETE would take it although no receiver saw it.
            Lead.objects.create(pk=gap, business=business, phone="+972507654321")

    job = run_job(services.leads_bulk_delete_start(business=business, selection={"filter": {}}).pk)

    assert job.result["deleted"] == 1499
    # The first batch was rolled back (with what its receiver did) and done again by ids.
    assert calls[:2] == [(ids[0], 1000), (ids[0], 1000)]
    assert not Lead.objects.filter(business=business).exists()


# Each of these detaches its rows from leads in a lead_batch_pre_delete receiver; a new
# relation to Lead must get one too (the bulk delete issues one plain DELETE), then be listed here.
RELATIONS_DETACHED_BY_A_RECEIVER = {"outbound.OutboundCallJob.lead"}


def test_every_relation_to_leads_is_detached_by_a_delete_receiver():
    relations = {
        f"{relation.related_model._meta.label}.{relation.field.name}"
        for relation in Lead._meta.related_objects
        if relation.field.concrete
    }
    assert relations == RELATIONS_DETACHED_BY_A_RECEIVER


@pytest.mark.postgresql("deferred foreign keys and SET CONSTRAINTS")
def test_a_delete_batch_checks_only_the_foreign_keys_to_leads(business):
    """The batch checks the keys to leads early (to redo itself on a new reference), and
    nothing else pending in the caller's transaction."""
    lead = LeadFactory(business=business)
    reached = []
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:  # an unrelated violation, deferred to commit
            cursor.execute(
                "INSERT INTO lead_imports (business_id, file_name, created_at, rows_total, rows_created,"
                " rows_updated, rows_rejected, errors) VALUES (%s, 'x.csv', now(), 0, 0, 0, 0, '[]')",
                [business.pk + 999_999],
            )
        services.lead_delete(business=business, lead_id=lead.pk)
        reached.append(Lead.objects.filter(pk=lead.pk).exists())
        with connection.cursor() as cursor:  # still pending: fails only now
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert reached == [False]


def test_merging_custom_fields_replaces_whole_top_level_values_on_every_database(business):
    """PostgreSQL's `||` replaces each given key's value as a whole and keeps nulls; the
    SQLite branch must not merge nested objects or drop null keys (JSON_PATCH would)."""
    lead = LeadFactory(business=business, custom_fields={"keep": 1, "nested": {"a": 1}, "flag": True})
    services.leads_update_batch(
        business=business,
        lead_ids=[lead.pk],
        changes={"custom_fields": {"nested": {"b": [1, "x"]}, "cleared": None, "flag": False, "name": "Dana"}},
    )
    lead.refresh_from_db()
    assert lead.custom_fields == {
        "keep": 1,
        "nested": {"b": [1, "x"]},
        "cleared": None,
        "flag": False,
        "name": "Dana",
    }
