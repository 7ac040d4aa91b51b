import pytest

from callcenter.models import BackgroundJob
from leads.models import Lead, LeadImport
from leads.signals import lead_batch_pre_delete
from tests.leads.helpers import csv_bytes, run_job, upload
from tests.plugins.leads import LeadFactory, insert_leads

pytestmark = pytest.mark.django_db


def test_create_normalises_the_phone(api, business):
    response = api.post(
        "/api/leads", {"phone": "050-765 4321", "name": "Dana", "custom_fields": {"city": "Haifa"}}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["phone"] == "+972507654321" and body["status"] == "new"
    assert Lead.objects.get(pk=body["id"]).business == business


def test_create_with_a_phone_already_stored_is_a_field_error(api, business):
    LeadFactory(business=business, phone="+972507654321")
    response = api.post("/api/leads", {"phone": "0507654321"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "phone" in response.json()["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {"phone": "123"},
        {"phone": ""},
        {},
        {"phone": "0507654321", "email": "nope"},
        {"phone": "0507654321", "status": "sleeping"},
        {"phone": "0507654321", "custom_fields": ["a"]},
    ],
)
def test_create_with_bad_input_is_400_with_field_errors(api, body):
    response = api.post("/api/leads", body, format="json")
    assert response.status_code == 400 and response.json()["fields"]
    assert not Lead.objects.exists()


def test_same_phone_in_another_business_is_fine(api, other_business):
    LeadFactory(business=other_business, phone="+972507654321")
    assert api.post("/api/leads", {"phone": "0507654321"}).status_code == 201


def test_list_filters_search_and_tenant_scope(api, business, other_business):
    LeadFactory(business=business, phone="+972507654321", name="Dana", status="contacted")
    LeadFactory(business=business, phone="+972547654321", name="Avi", do_not_call=True)
    LeadFactory(business=other_business, phone="+972507654321", name="Dana elsewhere")

    def names(**params):
        response = api.get("/api/leads", params)
        assert response.status_code == 200
        return sorted(lead["name"] for lead in response.json()["results"])

    assert names() == ["Avi", "Dana"]
    assert names(status="contacted") == ["Dana"]
    assert names(do_not_call="true") == ["Avi"]
    assert names(q="050 765 4321") == ["Dana"]
    assert names(q="+972-54-765-4321") == ["Avi"]
    assert names(ordering="name") == ["Avi", "Dana"]


def test_retrieve_update_delete_and_other_businesss_lead_is_404(api, business, other_business):
    lead, theirs = LeadFactory(business=business), LeadFactory(business=other_business)
    assert api.get(f"/api/leads/{lead.pk}").status_code == 200
    response = api.patch(f"/api/leads/{lead.pk}", {"phone": "+972 54 765 4321", "status": "interested"}, format="json")
    assert response.status_code == 200 and response.json()["phone"] == "+972547654321"
    for method in ("get", "patch", "put", "delete"):
        assert getattr(api, method)(f"/api/leads/{theirs.pk}", {}, format="json").status_code == 404
    assert api.delete(f"/api/leads/{lead.pk}").status_code == 204
    assert not Lead.objects.filter(pk=lead.pk).exists() and Lead.objects.filter(pk=theirs.pk).exists()


def test_update_to_a_phone_taken_is_400(api, business):
    LeadFactory(business=business, phone="+972507654321")
    other = LeadFactory(business=business)
    response = api.patch(f"/api/leads/{other.pk}", {"phone": "0507654321"}, format="json")
    assert response.status_code == 400 and "phone" in response.json()["fields"]


def test_deleting_a_lead_in_an_active_call_is_409(api, business):
    lead = LeadFactory(business=business)

    def in_call(sender, business, lead_ids, **kwargs):
        return set(lead_ids)

    lead_batch_pre_delete.connect(in_call, sender=Lead)
    try:
        response = api.delete(f"/api/leads/{lead.pk}")
    finally:
        lead_batch_pre_delete.disconnect(in_call, sender=Lead)
    assert response.status_code == 409 and response.json()["lead_id"] == lead.pk
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_bulk_delete_and_update_answer_202_and_run(api, business):
    insert_leads(business, 40)
    response = api.post("/api/leads/bulk-update", {"filter": {"status": "new"}, "do_not_call": True}, format="json")
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    assert response.json() == {"job_id": job_id, "status": "queued"}
    assert run_job(job_id).result["updated"] == 40

    response = api.post("/api/leads/bulk-delete", {"filter": {"do_not_call": True}}, format="json")
    assert response.status_code == 202
    assert run_job(response.json()["job_id"]).result["deleted"] == 40


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/leads/bulk-delete", {}),
        ("/api/leads/bulk-delete", {"lead_ids": [1], "filter": {}}),
        ("/api/leads/bulk-delete", {"lead_ids": ["x"]}),
        ("/api/leads/bulk-delete", {"lead_ids": []}),
        ("/api/leads/bulk-delete", {"filter": {"unknown": 1}}),
        ("/api/leads/bulk-delete", {"filter": {"do_not_call": "perhaps"}}),
        ("/api/leads/bulk-update", {"filter": {}}),
        ("/api/leads/bulk-update", {"filter": {}, "status": "sleeping"}),
        ("/api/leads/bulk-update", {"lead_ids": [1], "custom_fields": "x"}),
    ],
)
def test_bulk_endpoints_reject_bad_input_with_400(api, url, body):
    response = api.post(url, body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid" and response.json()["fields"]
    assert not BackgroundJob.objects.exists()


def test_import_api_end_to_end_and_delete_of_the_imported_leads(api, other_api, business, media_root):
    LeadFactory(business=business, phone="+972547654321")
    content = csv_bytes([["phone", "name"], ["0507654321", "Dana"], ["12", "Bad"], ["0547654321", "Avi"]])

    response = api.post("/api/leads/import", {"file": upload(content)}, format="multipart")

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued" and set(body) == {"job_id", "status", "import_id"}
    run_job(body["job_id"])
    detail = api.get(f"/api/leads/imports/{body['import_id']}").json()
    assert (detail["rows_total"], detail["rows_created"], detail["rows_updated"], detail["rows_rejected"]) == (
        3,
        1,
        1,
        1,
    )
    assert detail["errors"] == [
        {"row": 3, "reason": "invalid_phone", "message": detail["errors"][0]["message"], "value": "12"}
    ]
    assert detail["job"]["status"] == "succeeded" and detail["job"]["progress"]["done"] == 3

    assert other_api.get(f"/api/leads/imports/{body['import_id']}").status_code == 404
    assert other_api.post(f"/api/leads/imports/{body['import_id']}/delete").status_code == 404

    response = api.post(f"/api/leads/imports/{body['import_id']}/delete")
    assert response.status_code == 202
    assert run_job(response.json()["job_id"]).result["deleted"] == 1
    # The lead that existed before the import was only updated by it, so it stays.
    assert list(Lead.objects.values_list("phone", flat=True)) == ["+972547654321"]


@pytest.mark.parametrize(
    "files",
    [
        {},
        {"file": upload(b"\x00\x01\x02binary", "x.csv")},
        {"file": upload(b"name,email\nDana,d@example.com\n")},
    ],
)
def test_import_api_rejects_bad_files_with_400_and_stores_nothing(api, media_root, files):
    response = api.post("/api/leads/import", files, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and response.json()["fields"]
    assert not LeadImport.objects.exists() and not BackgroundJob.objects.exists()


def test_second_import_while_active_is_409(api, media_root):
    content = csv_bytes([["phone"], ["0507654321"]])
    first = api.post("/api/leads/import", {"file": upload(content)}, format="multipart").json()
    response = api.post("/api/leads/import", {"file": upload(content)}, format="multipart")
    assert response.status_code == 409
    assert response.json()["job_id"] == first["job_id"] and response.json()["code"] == "active_job_exists"
    assert LeadImport.objects.count() == 1


def test_unknown_import_is_404(api):
    assert api.get("/api/leads/imports/999999").status_code == 404
    assert api.post("/api/leads/imports/999999/delete").status_code == 404
