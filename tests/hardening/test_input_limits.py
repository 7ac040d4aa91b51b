"""Input a client can send never reaches the database unchecked: 400 with field errors, or
413, before anything is stored or a job starts."""

import io
import json

import pytest

from callcenter.models import BackgroundJob
from leads.models import Lead, LeadImport

JSON = "application/json"


def _json(body) -> str:
    # ASCII escapes (\\u0000, \\ud800), as a client would send characters UTF-8 cannot carry.
    return json.dumps(body, ensure_ascii=True)


def _fields(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:300]
    return response.json()["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize("offset", ["+18:00", "-16:30", "+23:59"])
def test_far_time_zone_offsets_in_the_lead_list_filter_are_answered(api, offset):
    response = api.get("/api/leads", {"created_after": f"2026-01-01T00:00:00{offset}"})
    assert response.status_code == 200, response.content[:300]


@pytest.mark.django_db
def test_a_time_that_leaves_the_calendar_in_utc_is_400(api):
    assert "created_after" in _fields(api.get("/api/leads", {"created_after": "0001-01-01T00:00:00+05:00"}))


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["/api/leads/bulk-delete", "/api/outbound/runs"])
def test_far_offsets_in_a_job_filter_are_checked_before_the_job_starts(api, business, endpoint):
    Lead.objects.create(business=business, phone="+972501234567", name="x")
    response = api.post(endpoint, {"filter": {"created_after": "2026-01-01T00:00:00+18:00"}}, format="json")
    assert response.status_code in (201, 202), response.content[:300]
    bad = api.post(endpoint, {"filter": {"created_before": "0001-01-01T00:00:00+05:00"}}, format="json")
    assert bad.status_code == 400 and "filter.created_before" in bad.json()["fields"]


@pytest.mark.django_db
def test_bulk_update_filter_is_checked_before_the_job_starts(api):
    response = api.post(
        "/api/leads/bulk-update",
        {"filter": {"created_before": "9999-12-31T23:59:59-01:00"}, "status": "new"},
        format="json",
    )
    assert "filter.created_before" in _fields(response)
    assert not BackgroundJob.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["a\x00b", "\ud800", "x\udfffy"])
def test_nul_and_lone_surrogates_in_custom_fields_are_400(api, business, bad):
    as_value = {"phone": "0501234567", "custom_fields": {"note": bad}}
    as_name = {"phone": "0501234567", "custom_fields": {bad: "x"}}
    nested = {"phone": "0501234567", "custom_fields": {"list": [{"deep": bad}]}}
    for body in (as_value, as_name, nested):
        assert "custom_fields" in _fields(api.post("/api/leads", _json(body), content_type=JSON))
    lead = Lead.objects.create(business=business, phone="+972501234568")
    response = api.patch(f"/api/leads/{lead.pk}", _json({"custom_fields": {"a": bad}}), content_type=JSON)
    assert "custom_fields" in _fields(response)
    body = {"lead_ids": [lead.pk], "custom_fields": {"a": bad}}
    response = api.post("/api/leads/bulk-update", _json(body), content_type=JSON)
    assert "custom_fields" in _fields(response)
    assert not BackgroundJob.objects.exists()


@pytest.mark.django_db
def test_nul_in_a_json_filter_or_query_parameter_is_400(api):
    assert "filter.q" in _fields(api.post("/api/leads/bulk-delete", {"filter": {"q": "a\x00"}}, format="json"))
    assert "q" in _fields(api.get("/api/leads?q=a%00b"))


@pytest.mark.django_db
def test_nul_in_a_recording_call_sid_is_json_404(api):
    for path in ("/api/recordings/file/CA%00x", "/api/recordings/CA%00/prepare"):
        response = api.get(path) if "file" in path else api.post(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_lead_ids_per_request_are_limited(api, settings):
    settings.API_MAX_IDS_PER_REQUEST = 5
    for endpoint in ("/api/leads/bulk-delete", "/api/outbound/runs"):
        assert "lead_ids" in _fields(api.post(endpoint, {"lead_ids": list(range(1, 7))}, format="json"))


def _csv(text: str, name: str = "leads.csv") -> io.BytesIO:
    upload = io.BytesIO(text.encode())
    upload.name = name
    return upload


@pytest.mark.django_db
def test_upload_over_the_size_limit_is_413_json(api, settings, media_root):
    settings.LEADS_IMPORT_MAX_FILE_BYTES = 1000
    body = "phone,name\n" + "".join(f"05012345{i:02d},name\n" for i in range(100))
    response = api.post("/api/leads/import", {"file": _csv(body)}, format="multipart")
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert "file" in response.json()["fields"]
    assert not LeadImport.objects.exists() and not BackgroundJob.objects.exists()


@pytest.mark.django_db
def test_long_cell_is_400_naming_the_row_before_the_job_starts(api, media_root):
    body = "phone,name\n0501234567,ok\n0501234568," + "x" * 131_073 + "\n"
    message = _fields(api.post("/api/leads/import", {"file": _csv(body)}, format="multipart"))["file"][0]
    assert "3" in message
    assert not LeadImport.objects.exists() and not BackgroundJob.objects.exists()


@pytest.mark.django_db
def test_long_row_is_400_naming_the_row(api, settings, media_root):
    settings.LEADS_IMPORT_MAX_ROW_CHARS = 50
    body = "phone,name,note\n0501234567,ok,\n0501234568,ok,fine\n0501234569," + "y" * 30 + "," + "z" * 30 + "\n"
    message = _fields(api.post("/api/leads/import", {"file": _csv(body)}, format="multipart"))["file"][0]
    assert "4" in message


@pytest.mark.django_db
def test_import_form_shows_the_size_limit(admin_client):
    page = admin_client.get("/admin/leads/lead/import/")
    assert page.status_code == 200
    assert "20.0" in page.content.decode()  # 20 MB, in the file field's help text


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["050-abc-defg", "050-ABC-DEFG", "0501234abc", "+972 50 call me"])
def test_phones_with_keypad_letters_are_rejected(api, raw):
    assert "phone" in _fields(api.post("/api/leads", {"phone": raw}, format="json"))
