import pytest
from django.contrib.auth.models import Permission

from callcenter.models import BackgroundJob
from tests.factories import BackgroundJobFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, business):
    user = MembershipFactory(business=business).user
    user.is_staff = True
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="view_backgroundjob"))
    client.force_login(user)
    return client


def test_admin_lists_only_own_jobs_and_404s_others(staff_client, business, other_business):
    mine = BackgroundJobFactory(business=business)
    theirs = BackgroundJobFactory(business=other_business)
    listing = staff_client.get("/admin/callcenter/backgroundjob/")
    assert listing.status_code == 200
    ids = {job.pk for job in listing.context["cl"].result_list}
    assert ids == {mine.pk}
    assert staff_client.get(f"/admin/callcenter/backgroundjob/{mine.pk}/change/").status_code == 200
    assert staff_client.get(f"/admin/callcenter/backgroundjob/{theirs.pk}/change/").status_code == 404
    assert staff_client.get(f"/admin/callcenter/backgroundjob/{theirs.pk}/history/").status_code == 404


def test_admin_cancel_action_cannot_reach_other_business(staff_client, business, other_business):
    mine = BackgroundJobFactory(business=business)
    theirs = BackgroundJobFactory(business=other_business, job_type=BackgroundJob.JobType.UPDATE_LEADS)
    staff_client.post(
        "/admin/callcenter/backgroundjob/",
        {"action": "cancel_jobs", "_selected_action": [mine.pk, theirs.pk]},
    )
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == BackgroundJob.Status.CANCELLED
    assert theirs.status == BackgroundJob.Status.QUEUED


def test_admin_is_right_to_left_hebrew_by_default(staff_client):
    page = staff_client.get("/admin/").content.decode()
    assert 'lang="he"' in page and 'dir="rtl"' in page
