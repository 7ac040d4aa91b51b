"""One contract for every /api/ answer: the documented JSON errors, one pagination, one time
zone, Hebrew messages."""

import json

import pytest
from django.test import override_settings
from django.utils import timezone

from leads.models import Lead
from outbound import services as outbound_services
from outbound.models import OutboundCallJob
from tests.plugins.outbound import make_leads


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    if code:
        assert body["code"] == code
    if status == 400:
        assert isinstance(body["fields"], dict)
    return body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/api/leads/", "/api/leads/abc", "/api/jobs/x", "/api/outbound/runs/", "/api/nothing-here", "/api/leads/1/"],
)
def test_unknown_paths_under_api_are_json_404(api, path):
    _error(api.get(path), 404, "not_found")


@pytest.mark.django_db
def test_unsupported_method_is_json_405(api):
    body = _error(api.put("/api/jobs", {}, format="json"), 405, "method_not_allowed")
    assert "error" in body


@pytest.mark.django_db
def test_body_over_the_limit_is_json_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"lead_ids": list(range(1, 400))})
    _error(api.post("/api/leads/bulk-delete", body, content_type="application/json"), 413, "payload_too_large")


@pytest.mark.django_db
def test_too_many_form_fields_is_json_400(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    form = "&".join(f"f{i}=1" for i in range(20))
    response = api.post("/api/leads/import", form, content_type="application/x-www-form-urlencoded")
    _error(response, 400, "too_many_fields")


@pytest.mark.django_db
def test_deeply_nested_json_is_400_not_500(api):
    deep = "[" * 5000 + "]" * 5000
    _error(api.post("/api/leads", deep, content_type="application/json"), 400)
    nested = {"phone": "0501234567", "custom_fields": {"a": json.loads("[" * 100 + "]" * 100)}}
    _error(api.post("/api/leads", nested, format="json"), 400)


@pytest.mark.django_db
def test_every_400_has_fields(api):
    _error(api.post("/api/leads", "{not json", content_type="application/json"), 400)
    _error(api.post("/api/leads/bulk-delete", {}, format="json"), 400, "invalid")


@pytest.mark.django_db
def test_unauthenticated_and_throttled_answers_are_json(client):
    _error(client.get("/api/leads"), 401)
    _error(client.get("/api/leads/"), 404)


@pytest.mark.django_db
def test_outbound_run_list_is_paginated_like_the_others(api, business, fake_twilio):
    for _ in range(3):
        leads = make_leads(business, 1, prefix=f"+9725{_}")
        run = outbound_services.outbound_run_start(business=business, selection={"lead_ids": [leads[0].pk]})
        outbound_services.outbound_run_cancel(business=business, run_id=run.pk)
    page = api.get("/api/outbound/runs?page_size=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert {"run_id", "status", "queued", "in_progress", "completed", "failed"} <= set(page["results"][0])
    assert len(api.get("/api/outbound/runs?page_size=2&page=2").json()["results"]) == 1


@pytest.mark.django_db
def test_page_size_is_honoured_by_every_list(api, business):
    for number in range(3):
        Lead.objects.create(business=business, phone=f"+97250000000{number}")
    assert len(api.get("/api/leads?page_size=2").json()["results"]) == 2
    assert len(api.get("/api/jobs?page_size=1").json()["results"]) == 0


@pytest.mark.django_db
def test_times_are_in_the_business_zone_in_json_and_csv(api, business, fake_twilio):
    business.time_zone = "America/New_York"
    business.save()
    lead = Lead.objects.create(business=business, phone="+972501112233")
    created = api.get(f"/api/leads/{lead.pk}").json()["created_at"]
    assert created.endswith(("-05:00", "-04:00")), created
    run = outbound_services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk]})
    run_json = api.get(f"/api/outbound/runs/{run.pk}").json()
    assert run_json["created_at"].endswith(("-05:00", "-04:00"))
    OutboundCallJob.objects.filter(run=run).update(dial_started_at=timezone.now())
    call_json = api.get(f"/api/outbound/runs/{run.pk}/calls").json()["results"][0]
    csv_text = b"".join(api.get(f"/api/outbound/runs/{run.pk}/calls.csv").streaming_content).decode()
    dial_started = call_json["dial_started_at"]
    assert dial_started and dial_started.endswith(("-05:00", "-04:00"))
    assert dial_started in csv_text, (dial_started, csv_text)
    # The zone does not leak into the next request of this thread.
    assert timezone.get_current_timezone_name() != "America/New_York"


@pytest.mark.django_db
def test_calls_csv_with_an_unknown_status_is_400(api, business, fake_twilio):
    lead = Lead.objects.create(business=business, phone="+972501112234")
    run = outbound_services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk]})
    _error(api.get(f"/api/outbound/runs/{run.pk}/calls.csv?status=bogus"), 400)


@pytest.mark.django_db
def test_rest_framework_messages_are_hebrew(api):
    body = _error(api.post("/api/leads", {"name": "x"}, format="json"), 400)
    assert body["fields"]["phone"] == ["שדה חובה."]
    body = _error(api.post("/api/outbound/runs", {"lead_ids": "x"}, format="json"), 400)
    assert "רשימת" in body["fields"]["lead_ids"][0]


@pytest.mark.django_db
@override_settings(LANGUAGE_CODE="he")
def test_unauthenticated_message_is_hebrew(client):
    assert client.get("/api/jobs").json()["error"] == "לא נמסרו פרטי הזדהות."
