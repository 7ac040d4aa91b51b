"""Every mass action on leads shows the exact count, computed on the server from the
selection the job will process, and starts nothing until confirmed."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission

from callcenter.models import BackgroundJob
from leads.models import Lead, LeadImport
from tests.leads.helpers import run_job
from tests.plugins.admin import staff_client
from tests.plugins.leads import insert_leads

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/leads/lead/"


@pytest.fixture
def admin_client(business):
    return staff_client(business, "view_lead", "change_lead", "delete_lead", "view_leadimport", "view_backgroundjob")


def action(client, name, ids, *, query="", select_across=True, **extra):
    data = {"action": name, ACTION_CHECKBOX_NAME: ids, "select_across": "1" if select_across else "0", **extra}
    return client.post(CHANGELIST + query, data)


def page_ids(business, count=100):
    return list(Lead.objects.filter(business=business).order_by("pk").values_list("pk", flat=True)[:count])


@pytest.mark.parametrize("name", ["delete_in_background", "bulk_update"])
def test_select_all_shows_the_exact_count_and_starts_nothing(admin_client, business, other_business, name):
    insert_leads(business, 1234, status="new")
    insert_leads(business, 7, status="converted", first_number=10_000)
    insert_leads(other_business, 50, status="new")

    page = action(admin_client, name, page_ids(business), query="?status=new")

    assert page.status_code == 200
    assert page.context["count"] == 1234
    html = page.content.decode()
    assert 'data-count="1234"><bdi dir="ltr">1,234</bdi>' in html
    assert not BackgroundJob.objects.exists()
    # The confirmation posts back the same selection (the filter in the URL, select-across).
    html = page.content.decode()
    assert 'name="confirmed" value="yes"' in html and 'name="select_across" value="1"' in html


def test_the_confirmed_delete_job_has_the_confirmed_total(admin_client, business):
    insert_leads(business, 321, status="new")
    insert_leads(business, 5, status="converted", first_number=10_000)
    page = action(admin_client, "delete_in_background", page_ids(business), query="?status=new")
    shown = page.context["count"]

    action(admin_client, "delete_in_background", page_ids(business), query="?status=new", confirmed="yes")

    job = BackgroundJob.objects.get()
    assert job.progress_total == shown == 321
    job = run_job(job.pk)
    assert (job.progress_done, job.progress_total, job.result["deleted"]) == (321, 321, 321)


def test_going_back_from_any_confirmation_changes_nothing(admin_client, business):
    insert_leads(business, 40)
    lead_import = LeadImport.objects.create(business=business, file_name="a.csv")
    for name in ("delete_in_background", "bulk_update"):
        page = action(admin_client, name, page_ids(business), query="?status=new")
        back = page.context["back_url"]
        assert back == CHANGELIST + "?status=new"
        assert admin_client.get(back).status_code == 200
    admin_client.post(
        "/admin/leads/leadimport/", {"action": "delete_imported_leads", ACTION_CHECKBOX_NAME: [lead_import.pk]}
    )
    assert not BackgroundJob.objects.exists() and Lead.objects.count() == 40


def test_ticked_rows_are_counted_as_ticked(admin_client, business):
    insert_leads(business, 30)
    page = action(admin_client, "delete_in_background", page_ids(business, 3), select_across=False)
    assert page.context["count"] == 3


def test_delete_imported_confirms_the_count_of_each_import(admin_client, business):
    first = LeadImport.objects.create(business=business, file_name="a.csv")
    insert_leads(business, 12, lead_import=first)
    page = admin_client.post(
        "/admin/leads/leadimport/", {"action": "delete_imported_leads", ACTION_CHECKBOX_NAME: [first.pk]}
    )
    assert page.context["count"] == 12 and not BackgroundJob.objects.exists()
    admin_client.post(
        "/admin/leads/leadimport/",
        {"action": "delete_imported_leads", ACTION_CHECKBOX_NAME: [first.pk], "confirmed": "yes"},
    )
    assert BackgroundJob.objects.get().progress_total == 12


def test_the_started_message_links_the_job(admin_client, business):
    insert_leads(business, 3)
    response = admin_client.post(
        CHANGELIST,
        {"action": "delete_in_background", ACTION_CHECKBOX_NAME: page_ids(business), "confirmed": "yes"},
        follow=True,
    )
    job = BackgroundJob.objects.get()
    html = response.content.decode()
    assert f'href="/admin/callcenter/backgroundjob/{job.pk}/change/"><bdi dir="ltr">#{job.pk}</bdi></a>' in html


def test_the_add_form_preselects_the_only_business_and_says_a_duplicate_plainly(admin_client, business):
    user = business.memberships.get().user
    user.user_permissions.add(Permission.objects.get(codename="add_lead"))
    form = admin_client.get(CHANGELIST + "add/")
    assert form.context["adminform"].form["business"].value() == business.pk
    assert form.context["adminform"].form["custom_fields"].value() in ({}, "{}")
    data = {"business": business.pk, "phone": "050-765 4321", "name": "דנה", "email": "", "status": "new"}
    data["custom_fields"] = "{}"
    assert admin_client.post(CHANGELIST + "add/", data).status_code == 302
    again = admin_client.post(CHANGELIST + "add/", {**data, "phone": "+972 50 765 4321"})
    assert again.context["adminform"].form.errors == {"phone": ["כבר קיים ליד עם מספר הטלפון הזה."]}
