import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from callcenter.models import BackgroundJob
from leads.models import Lead
from tests.leads.helpers import run_job
from tests.plugins.leads import insert_leads


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", ["/api/leads/bulk-delete", "/api/leads/bulk-update"])
def test_simultaneous_bulk_requests_start_exactly_one_job(business, member, url):
    insert_leads(business, 100)
    body = {"filter": {}, "status": "contacted"} if url.endswith("update") else {"filter": {}}
    barrier = threading.Barrier(4)
    answers = []

    def request():
        try:
            client = APIClient()
            client.force_authenticate(member)
            barrier.wait()
            response = client.post(url, body, format="json")
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(status for status, _body in answers)
    assert statuses == [202, 409, 409, 409]
    [job] = BackgroundJob.objects.filter(business=business)
    assert all(body["job_id"] == job.pk for _status, body in answers)
    run_job(job.pk)
    expected = 0 if url.endswith("delete") else 100
    assert Lead.objects.filter(business=business).count() == expected


@pytest.mark.django_db(transaction=True)
def test_leads_edited_while_a_bulk_update_runs_keep_both_changes(business, settings):
    """A single-lead edit writes only its own fields, so it never puts back a stale status."""
    settings.LEADS_JOB_BATCH_SIZE = 50
    insert_leads(business, 200)
    from leads import services

    job = services.leads_bulk_update_start(
        business=business, selection={"filter": {}}, changes={"status": "interested", "do_not_call": True}
    )
    lead_ids = list(Lead.objects.filter(business=business).values_list("pk", flat=True))
    errors = []

    def edit_leads():
        try:
            for lead_id in lead_ids[::7]:
                services.lead_update(business=business, lead_id=lead_id, name="edited")
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    editor = threading.Thread(target=edit_leads)
    editor.start()
    run_job(job.pk)
    editor.join()

    assert not errors
    assert Lead.objects.filter(business=business).exclude(status="interested", do_not_call=True).count() == 0
    assert Lead.objects.filter(business=business, name="edited").count() == len(lead_ids[::7])
