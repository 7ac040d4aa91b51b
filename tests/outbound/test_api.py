"""The runs API: start, progress in the seed's shape, control, call list and CSV, tenancy."""

import csv
import io

import pytest

from callcenter.models import BackgroundJob
from outbound import services
from outbound.models import OutboundCallJob, OutboundCallRun
from tests.plugins.outbound import make_leads

SEED_CALLS_MESSAGE = "תור שיחות פעיל כבר קיים. אנא המתן לסיום התור הנוכחי"


@pytest.fixture
def leads(business):
    return make_leads(business, 5)


@pytest.mark.django_db(transaction=True)
def test_start_answers_201_and_progress_has_the_seed_shape(api, leads, fake_twilio):
    response = api.post("/api/outbound/runs", {"lead_ids": [lead.pk for lead in leads]}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"run_id", "job_id", "status", "total_leads"}
    assert body["total_leads"] == 5 and body["status"] == "running"
    progress = api.get(f"/api/outbound/runs/{body['run_id']}").json()
    seed_shape = {"run_id", "status", "queued", "in_progress", "completed", "failed", "total_leads", "concurrency"}
    assert seed_shape <= set(progress)
    assert {key: progress[key] for key in seed_shape} == {
        "run_id": body["run_id"],
        "status": "running",
        "queued": 2,
        "in_progress": 3,
        "completed": 0,
        "failed": 0,
        "total_leads": 5,
        "concurrency": 3,
    }
    assert BackgroundJob.objects.get(pk=body["job_id"]).status == "running"


@pytest.mark.django_db(transaction=True)
def test_second_run_while_one_is_active_answers_409_with_the_seed_message(api, leads, fake_twilio):
    first = api.post("/api/outbound/runs", {"lead_ids": [leads[0].pk]}, format="json").json()
    response = api.post("/api/outbound/runs", {"lead_ids": [leads[1].pk]}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "error": SEED_CALLS_MESSAGE,
        "code": "active_job_exists",
        "job_id": first["job_id"],
        "status": "running",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "lead_ids"),
        ({"lead_ids": []}, "lead_ids"),
        ({"lead_ids": ["x"]}, "lead_ids"),
        ({"lead_ids": [1], "filter": {}}, "lead_ids"),
        ({"lead_ids": [1], "concurrency": 4}, "concurrency"),
        ({"lead_ids": [1], "concurrency": 0}, "concurrency"),
        ({"filter": "status=new"}, "filter"),
    ],
)
def test_bad_input_answers_400_with_field_errors(api, payload, field):
    response = api.post("/api/outbound/runs", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


@pytest.mark.django_db
def test_no_leads_in_the_selection_answers_400_and_starts_nothing(api, other_business):
    foreign = make_leads(other_business, 1)
    response = api.post("/api/outbound/runs", {"lead_ids": [foreign[0].pk]}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "no_leads"
    assert not OutboundCallRun.objects.exists() and not BackgroundJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_filter_selection_and_concurrency(api, business, fake_twilio):
    make_leads(business, 4)
    response = api.post("/api/outbound/runs", {"filter": {"status": "new"}, "concurrency": 2}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["total_leads"] == 4
    assert len(fake_twilio.calls) == 2


@pytest.mark.django_db(transaction=True)
def test_pause_resume_cancel(api, leads, fake_twilio):
    run_id = api.post("/api/outbound/runs", {"lead_ids": [lead.pk for lead in leads]}, format="json").json()["run_id"]
    assert api.post(f"/api/outbound/runs/{run_id}/pause").json()["status"] == "paused"
    assert api.post(f"/api/outbound/runs/{run_id}/pause").status_code == 409
    call = fake_twilio.calls[0]
    services.call_status_callback_record(
        job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "completed")
    )
    assert len(fake_twilio.calls) == 3  # paused: the freed slot stays free
    assert api.post(f"/api/outbound/runs/{run_id}/resume").json()["status"] == "running"
    assert len(fake_twilio.calls) == 4
    cancelled = api.post(f"/api/outbound/runs/{run_id}/cancel").json()
    assert cancelled["queued"] == 0 and cancelled["in_progress"] == 3 and cancelled["cancel_requested"] is True
    for call in fake_twilio.open_calls():
        services.call_status_callback_record(
            job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "completed")
        )
    final = api.get(f"/api/outbound/runs/{run_id}").json()
    assert final["status"] == "canceled" and final["completed"] == 4 and final["canceled"] == 1
    assert BackgroundJob.objects.get(pk=final["job_id"]).status == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_another_business_run_is_404(api, other_api, leads, fake_twilio):
    run_id = api.post("/api/outbound/runs", {"lead_ids": [leads[0].pk]}, format="json").json()["run_id"]
    for path in ("", "/calls", "/calls.csv"):
        assert other_api.get(f"/api/outbound/runs/{run_id}{path}").status_code == 404
    for action in ("pause", "resume", "cancel"):
        assert other_api.post(f"/api/outbound/runs/{run_id}/{action}").status_code == 404
    assert api.get("/api/outbound/runs/999999").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_call_list_filters_paginates_and_exports_csv(api, leads, fake_twilio):
    run_id = api.post("/api/outbound/runs", {"lead_ids": [lead.pk for lead in leads]}, format="json").json()["run_id"]
    call = fake_twilio.calls[0]
    services.call_status_callback_record(
        job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "in-progress")
    )
    services.call_status_callback_record(
        job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "completed")
    )
    page = api.get(f"/api/outbound/runs/{run_id}/calls").json()
    assert page["count"] == 5 and len(page["results"]) == 5
    answered = api.get(f"/api/outbound/runs/{run_id}/calls?outcome=answered").json()["results"]
    assert [row["call_id"] for row in answered] == [call.job_id]
    business_id = OutboundCallRun.objects.get(pk=run_id).business_id
    assert answered[0]["recording_url"] == f"/recordings/player/{call.sid}?business_id={business_id}"
    assert answered[0]["duration_seconds"] == 5
    dialing = api.get(f"/api/outbound/runs/{run_id}/calls?status=dialing").json()
    assert dialing["count"] == 3
    assert api.get(f"/api/outbound/runs/{run_id}/calls?status=bogus").status_code == 400
    response = api.get(f"/api/outbound/runs/{run_id}/calls.csv?outcome=answered")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert len(rows) == 1 and rows[0]["outcome"] == "answered" and rows[0]["call_sid"] == call.sid
    assert OutboundCallJob.objects.filter(run_id=run_id).count() == 5


@pytest.mark.django_db(transaction=True)
def test_cancelling_the_run_job_through_the_jobs_api_cancels_the_run(api, leads, fake_twilio):
    started = api.post("/api/outbound/runs", {"lead_ids": [lead.pk for lead in leads]}, format="json").json()
    assert api.post(f"/api/jobs/{started['job_id']}/cancel").status_code == 202
    services.runs_tick()
    progress = api.get(f"/api/outbound/runs/{started['run_id']}").json()
    assert progress["cancel_requested"] is True and progress["queued"] == 0 and progress["canceled"] == 2
    for call in fake_twilio.open_calls():
        services.call_status_callback_record(
            job_id=call.job_id, claim_number=call.claim, params=fake_twilio.progress(call, "completed")
        )
    assert api.get(f"/api/outbound/runs/{started['run_id']}").json()["status"] == "canceled"
    assert BackgroundJob.objects.get(pk=started["job_id"]).status == "cancelled"
