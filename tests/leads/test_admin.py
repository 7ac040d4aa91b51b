import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from callcenter.models import BackgroundJob
from leads.models import Lead, LeadImport
from tests.factories import MembershipFactory
from tests.leads.helpers import csv_bytes, run_job, upload
from tests.plugins.leads import LeadFactory, insert_leads

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/leads/lead/"
HEBREW_DELETE_ACTIVE = "מחיקה המונית פעילה כבר קיימת. אנא המתן לסיום המחיקה הנוכחית"


@pytest.fixture
def staff(business):
    user = MembershipFactory(business=business).user
    user.is_staff = True
    user.save()
    codenames = ["view_lead", "change_lead", "delete_lead", "add_lead", "view_leadimport", "view_backgroundjob"]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


def post_action(client, action, ids, *, query="", select_across=False, confirm=True, **extra):
    """The action as the admin posts it; `confirm` also answers its confirmation page."""
    data = {"action": action, ACTION_CHECKBOX_NAME: ids, "select_across": "1" if select_across else "0", **extra}
    if confirm:
        data["confirmed"] = "yes"
    return client.post(CHANGELIST + query, data, follow=True)


def test_stock_delete_selected_is_not_offered_and_ours_are(admin_client, business):
    LeadFactory(business=business)
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    choices = [value for value, _label in response.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in choices
    assert {"delete_in_background", "bulk_update"} <= set(choices)


def test_select_all_across_pages_hands_the_job_a_filter_and_deletes_50000(admin_client, business, other_business):
    insert_leads(business, 50_000, status="new")
    insert_leads(business, 10, status="converted", first_number=100_000)
    insert_leads(other_business, 100, status="new")
    page_ids = list(Lead.objects.filter(business=business, status="new").values_list("pk", flat=True)[:100])

    with CaptureQueriesContext(connection) as queries:
        response = post_action(admin_client, "delete_in_background", page_ids, query="?status=new", select_across=True)

    job = BackgroundJob.objects.get()
    assert job.job_type == "delete_leads"
    assert job.payload == {"selection": {"filter": {"status": ["new"]}}}
    assert any(f"#{job.pk}" in message for message in messages_of(response))
    # No query of the request reads the selected leads wholesale: every read of the leads
    # table is a count, a page (LIMIT) or an EXISTS.
    lead_reads = [q["sql"] for q in queries.captured_queries if re.search(r'FROM "leads"', q["sql"])]
    assert lead_reads and all(re.search(r"COUNT\(|LIMIT|EXISTS", sql) for sql in lead_reads), lead_reads

    job = run_job(job.pk)
    assert job.status == "succeeded"
    assert (job.progress_done, job.progress_total) == (50_000, 50_000)
    assert job.result["deleted"] == 50_000
    assert Lead.objects.filter(business=business).count() == 10
    assert Lead.objects.filter(business=other_business).count() == 100


def test_ticked_rows_only_give_their_ids(admin_client, business):
    leads = [LeadFactory(business=business) for _ in range(3)]
    post_action(admin_client, "delete_in_background", [leads[0].pk, leads[2].pk])
    assert BackgroundJob.objects.get().payload == {"selection": {"lead_ids": sorted([leads[0].pk, leads[2].pk])}}


def test_second_bulk_delete_while_first_is_active_shows_the_hebrew_message(admin_client, api, business):
    lead = LeadFactory(business=business)
    post_action(admin_client, "delete_in_background", [lead.pk])
    first = BackgroundJob.objects.get()

    response = post_action(admin_client, "delete_in_background", [lead.pk], query="?q=Lead", select_across=True)

    [message] = messages_of(response)
    assert HEBREW_DELETE_ACTIVE in message
    assert f"#{first.pk}" in message and "בתור" in message  # status "queued" in Hebrew
    assert BackgroundJob.objects.count() == 1

    api_response = api.post("/api/leads/bulk-delete", {"filter": {}}, format="json")
    assert api_response.status_code == 409
    assert api_response.json() == {
        "error": HEBREW_DELETE_ACTIVE,
        "code": "active_job_exists",
        "job_id": first.pk,
        "status": "queued",
    }


def test_bulk_update_goes_through_a_form_then_starts_the_job(admin_client, business):
    insert_leads(business, 30)
    ids = list(Lead.objects.values_list("pk", flat=True)[:5])
    form_page = admin_client.post(
        CHANGELIST + "?do_not_call=false", {"action": "bulk_update", ACTION_CHECKBOX_NAME: ids, "select_across": "1"}
    )
    assert form_page.status_code == 200 and "form" in form_page.context
    assert not BackgroundJob.objects.exists()

    response = admin_client.post(
        CHANGELIST + "?do_not_call=false",
        {
            "action": "bulk_update",
            ACTION_CHECKBOX_NAME: ids,
            "select_across": "1",
            "confirmed": "yes",
            "status": "interested",
            "do_not_call": "",
            "custom_fields": '{"campaign": "spring"}',
        },
        follow=True,
    )
    job = BackgroundJob.objects.get()
    assert job.payload == {
        "selection": {"filter": {"do_not_call": "false"}},
        "changes": {"status": "interested", "custom_fields": {"campaign": "spring"}},
    }
    assert any(f"#{job.pk}" in message for message in messages_of(response))
    run_job(job.pk)
    assert Lead.objects.filter(status="interested", custom_fields__campaign="spring").count() == 30


def test_bulk_update_without_any_change_starts_nothing(admin_client, business):
    lead = LeadFactory(business=business)
    response = admin_client.post(
        CHANGELIST,
        {"action": "bulk_update", ACTION_CHECKBOX_NAME: [lead.pk], "select_across": "0", "confirmed": "yes"},
        follow=True,
    )
    assert not BackgroundJob.objects.exists()
    assert messages_of(response)


@pytest.mark.parametrize("query", ["0507654321", "050-765-4321", "+972 50 765 4321", "972507654321", "7654321"])
def test_search_by_phone_in_any_format(admin_client, business, query):
    LeadFactory(business=business, phone="+972507654321", name="Dana")
    LeadFactory(business=business, phone="+972541111111", name="Other")
    response = admin_client.get(CHANGELIST, {"q": query})
    assert [lead.name for lead in response.context["cl"].result_list] == ["Dana"]


def test_staff_sees_only_their_business_leads(admin_client, other_business):
    theirs = LeadFactory(business=other_business)
    assert admin_client.get(f"{CHANGELIST}{theirs.pk}/change/").status_code in (302, 404)
    assert admin_client.get(CHANGELIST).context["cl"].result_count == 0


def test_import_page_uploads_and_shows_the_report(admin_client, business, media_root):
    content = csv_bytes([["טלפון", "שם"], ["050-7654321", "דנה"], ["bad", "x"]])
    response = admin_client.post(
        reverse("admin:leads_lead_import"), {"business": business.pk, "file": upload(content)}, follow=True
    )
    lead_import = LeadImport.objects.get()
    assert response.redirect_chain[-1][0].endswith(f"/admin/leads/leadimport/{lead_import.pk}/change/")
    run_job(lead_import.job_id)
    report = admin_client.get(f"/admin/leads/leadimport/{lead_import.pk}/change/")
    assert report.status_code == 200
    html = report.content.decode()
    # The reason as a label, the row number and the value isolated left to right.
    assert "invalid_phone" not in html and "מספר טלפון לא תקין" in html
    assert '<bdi dir="ltr">3</bdi>' in html and '<bdi dir="ltr">bad</bdi>' in html


def test_import_page_rejects_a_file_without_a_phone_column(admin_client, business, media_root):
    response = admin_client.post(
        reverse("admin:leads_lead_import"),
        {"business": business.pk, "file": upload(csv_bytes([["name"], ["Dana"]]))},
    )
    assert response.status_code == 200 and response.context["form"].errors["file"]
    assert not LeadImport.objects.exists()


def test_import_admin_action_deletes_the_imported_leads(admin_client, business):
    lead_import = LeadImport.objects.create(business=business, file_name="a.csv")
    insert_leads(business, 20, lead_import=lead_import)
    admin_client.post(
        "/admin/leads/leadimport/",
        {
            "action": "delete_imported_leads",
            ACTION_CHECKBOX_NAME: [lead_import.pk],
            "select_across": "0",
            "confirmed": "yes",
        },
    )
    job = run_job(BackgroundJob.objects.get(job_type="delete_imported_leads").pk)
    assert job.result["deleted"] == 20 and not Lead.objects.exists()


def test_adding_a_lead_in_the_admin_normalises_the_phone_and_refuses_a_duplicate(admin_client, business):
    data = {"business": business.pk, "phone": "050-765 4321", "name": "Dana", "email": "", "status": "new"}
    data["custom_fields"] = "{}"
    response = admin_client.post(f"{CHANGELIST}add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Lead.objects.get().phone == "+972507654321"

    again = admin_client.post(f"{CHANGELIST}add/", {**data, "phone": "+972 50 765 4321"})
    assert again.status_code == 200 and again.context["adminform"].form.errors
    assert Lead.objects.count() == 1


def test_select_all_over_several_businesses_needs_a_business_filter(business, other_business):
    from django.contrib.auth import get_user_model

    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "secret-pass-123")
    client = Client()
    client.force_login(superuser)
    mine, theirs = LeadFactory(business=business), LeadFactory(business=other_business)

    response = post_action(client, "delete_in_background", [mine.pk, theirs.pk], select_across=True)
    assert not BackgroundJob.objects.exists()
    assert any("business" in message or "עסק" in message for message in messages_of(response))

    post_action(client, "delete_in_background", [mine.pk], query=f"?business={business.pk}", select_across=True)
    job = BackgroundJob.objects.get()
    assert job.business == business and job.payload == {"selection": {"filter": {}}}
    run_job(job.pk)
    assert Lead.objects.filter(pk=theirs.pk).exists() and not Lead.objects.filter(pk=mine.pk).exists()
