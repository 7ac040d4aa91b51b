"""django-q's admin pages are for superusers: tenant staff never see other businesses' task
arguments, and cannot create a schedule that runs any callable on the workers."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from django_q.models import Schedule, Success

from tests.factories import MembershipFactory


@pytest.fixture
def staff_with_task_queue_permissions(business):
    user = MembershipFactory(business=business).user
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="django_q"))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_staff_with_django_q_permissions_see_no_task_pages(staff_with_task_queue_permissions):
    Success.objects.create(
        id="a" * 32,
        name="other-business-task",
        func="leads.tasks.delete_leads",
        args=("secret-args",),
        started=timezone.now(),
        stopped=timezone.now(),
        success=True,
    )
    client = staff_with_task_queue_permissions
    for path in (
        "/admin/django_q/success/",
        "/admin/django_q/failure/",
        "/admin/django_q/schedule/",
        "/admin/django_q/ormq/",
        f"/admin/django_q/success/{'a' * 32}/change/",
    ):
        response = client.get(path)
        assert response.status_code in (302, 403, 404), path
        assert b"secret-args" not in response.content
    index = client.get("/admin/")
    assert b"/admin/django_q/" not in index.content


@pytest.mark.django_db
def test_staff_cannot_create_a_schedule(staff_with_task_queue_permissions):
    response = staff_with_task_queue_permissions.post(
        "/admin/django_q/schedule/add/", {"func": "os.system", "args": "'id'", "schedule_type": "O", "repeats": "-1"}
    )
    assert response.status_code in (302, 403)
    assert not Schedule.objects.filter(func="os.system").exists()


@pytest.mark.django_db
def test_superusers_keep_the_task_queue_pages(admin_client):
    assert admin_client.get("/admin/django_q/schedule/").status_code == 200
    assert admin_client.get("/admin/django_q/success/").status_code == 200
