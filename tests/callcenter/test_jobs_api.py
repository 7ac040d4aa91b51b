import pytest
from django.urls import path
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from callcenter import services
from callcenter.models import BackgroundJob
from callcenter.tenancy import request_business
from tests.factories import BackgroundJobFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
JobType, Status = BackgroundJob.JobType, BackgroundJob.Status

SEED_MESSAGES = {
    "enqueue_outbound_calls": "תור שיחות פעיל כבר קיים. אנא המתן לסיום התור הנוכחי",
    "delete_leads": "מחיקה המונית פעילה כבר קיימת. אנא המתן לסיום המחיקה הנוכחית",
    "delete_imported_leads": "מחיקה המונית פעילה כבר קיימת. אנא המתן לסיום המחיקה הנוכחית",
    "update_leads": "עדכון המוני פעיל כבר קיים. אנא המתן לסיום העדכון הנוכחי",
}


class StartJobApi(APIView):
    """A minimal endpoint that starts a guarded job, as the app endpoints do."""

    def post(self, request, job_type):
        job = services.background_job_start(business=request_business(request), job_type=job_type)
        return Response({"job_id": job.pk, "status": job.status}, status=202)


urlpatterns = [path("start/<str:job_type>", StartJobApi.as_view())]


@pytest.mark.urls("tests.callcenter.test_jobs_api")
@pytest.mark.parametrize("job_type", list(SEED_MESSAGES))
def test_409_carries_the_seed_message_in_hebrew_by_default(api, job_type):
    first = api.post(f"/start/{job_type}")
    assert first.status_code == 202
    second = api.post(f"/start/{job_type}")
    assert second.status_code == 409
    assert second.json() == {
        "error": SEED_MESSAGES[job_type],
        "code": "active_job_exists",
        "job_id": first.json()["job_id"],
        "status": "queued",
    }


@pytest.mark.urls("tests.callcenter.test_jobs_api")
def test_409_in_english_when_asked(api):
    api.post("/start/update_leads")
    response = api.post("/start/update_leads", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 409
    assert response.json()["error"].startswith("An active bulk update already exists")


def test_job_list_and_detail_are_scoped_to_the_business(api, business, other_business):
    mine = BackgroundJobFactory(business=business, job_type=JobType.UPDATE_LEADS, progress_total=10, progress_done=4)
    theirs = BackgroundJobFactory(business=other_business)
    listed = api.get("/api/jobs").json()
    assert [row["job_id"] for row in listed["results"]] == [mine.pk]
    detail = api.get(f"/api/jobs/{mine.pk}").json()
    assert detail["progress"] == {"done": 4, "total": 10, "percent": 40}
    assert detail["status"] == "queued" and detail["job_type"] == "update_leads"
    assert api.get(f"/api/jobs/{theirs.pk}").status_code == 404
    assert api.get("/api/jobs?status=running").json()["results"] == []


def test_cancel_queued_job_finishes_it_and_running_job_gets_a_request(api, business):
    queued = BackgroundJobFactory(business=business, job_type=JobType.DELETE_LEADS)
    running = BackgroundJobFactory(business=business, job_type=JobType.UPDATE_LEADS, status=Status.RUNNING)
    assert api.post(f"/api/jobs/{queued.pk}/cancel").json()["status"] == "cancelled"
    body = api.post(f"/api/jobs/{running.pk}/cancel").json()
    assert body["status"] == "running" and body["cancel_requested"] is True
    again = api.post(f"/api/jobs/{queued.pk}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "conflict"


def test_another_business_cannot_cancel(other_api, business):
    job = BackgroundJobFactory(business=business)
    response = other_api.post(f"/api/jobs/{job.pk}/cancel")
    assert response.status_code == 404
    job.refresh_from_db()
    assert job.status == Status.QUEUED and job.cancel_requested_at is None


def test_unauthenticated_and_memberless_requests_are_refused(db):
    assert APIClient().get("/api/jobs").status_code in (401, 403)
    client = APIClient()
    client.force_authenticate(UserFactory())
    response = client.get("/api/jobs")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_several_memberships_need_the_business_header(business, other_business):
    user = MembershipFactory(business=business).user
    MembershipFactory(business=other_business, user=user)
    job = BackgroundJobFactory(business=other_business)
    client = APIClient()
    client.force_authenticate(user)
    assert client.get("/api/jobs").status_code == 403
    response = client.get("/api/jobs", HTTP_X_BUSINESS_ID=str(other_business.pk))
    assert [row["job_id"] for row in response.json()["results"]] == [job.pk]
    assert client.get("/api/jobs", HTTP_X_BUSINESS_ID="999999").status_code == 403
    assert client.get("/api/jobs", HTTP_X_BUSINESS_ID="abc").status_code == 403


def test_token_authentication(member, business):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=member)
    client = APIClient()
    assert client.get("/api/jobs", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    assert client.get("/api/jobs", HTTP_AUTHORIZATION="Token wrong").status_code == 401


def test_bad_ids_are_404_not_500(api):
    assert api.get("/api/jobs/99999999").status_code == 404
    assert api.get("/api/jobs?status=bogus").status_code == 400


def test_schema_and_docs_are_served(api, client):
    assert api.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
