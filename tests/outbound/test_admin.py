"""The admin: "start calls" on 1, 3 and 250 leads as the seed describes, the second run's
Hebrew message, the run page's live progress and its controls."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import Client

from callcenter.models import BackgroundJob
from outbound.models import OutboundCallJob, OutboundCallRun
from tests.factories import MembershipFactory
from tests.plugins.outbound import make_leads

CHANGELIST = "/admin/leads/lead/"
SEED_CALLS_MESSAGE = "תור שיחות פעיל כבר קיים. אנא המתן לסיום התור הנוכחי"
CallStatus = OutboundCallJob.Status


@pytest.fixture
def staff(business):
    user = MembershipFactory(business=business).user
    user.is_staff = True
    user.save()
    codenames = ["view_lead", "change_lead", "view_outboundcallrun", "change_outboundcallrun", "view_outboundcalljob"]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def start_calls(client, ids, *, query="", select_across=False):
    data = {
        "action": "start_calls",
        ACTION_CHECKBOX_NAME: ids,
        "select_across": "1" if select_across else "0",
        "confirmed": "yes",
        "concurrency": "3",
    }
    return client.post(CHANGELIST + query, data, follow=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("count, dialing", [(1, 1), (3, 3), (250, 3)])
def test_start_calls_on_selected_leads(admin_client, business, fake_twilio, count, dialing):
    ids = [lead.pk for lead in make_leads(business, count)]
    response = start_calls(admin_client, ids)
    run = OutboundCallRun.objects.get()
    assert response.redirect_chain[-1][0] == f"/admin/outbound/outboundcallrun/{run.pk}/change/"
    assert run.total_leads == count and run.concurrency == 3
    assert run.calls.filter(status=CallStatus.DIALING).count() == dialing
    assert run.calls.filter(status=CallStatus.QUEUED).count() == count - dialing
    assert len(fake_twilio.calls) == dialing
    assert f"#{run.pk}" in " ".join(messages_of(response))


@pytest.mark.django_db(transaction=True)
def test_select_all_across_pages_starts_the_filtered_leads(admin_client, business, other_business, fake_twilio):
    make_leads(business, 250)
    make_leads(other_business, 5, prefix="+97254")
    page_ids = list(business.leads.order_by("-id").values_list("id", flat=True)[:100])
    start_calls(admin_client, page_ids, query="?status=new", select_across=True)
    run = OutboundCallRun.objects.get()
    assert run.selection == {"filter": {"status": ["new"]}} and run.total_leads == 250


@pytest.mark.django_db(transaction=True)
def test_second_run_while_one_is_active_shows_the_seed_message(admin_client, business, fake_twilio):
    leads = make_leads(business, 2)
    start_calls(admin_client, [leads[0].pk])
    first = BackgroundJob.objects.get()
    response = start_calls(admin_client, [leads[1].pk])
    [message] = messages_of(response)
    assert SEED_CALLS_MESSAGE in message and f"#{first.pk}" in message
    assert OutboundCallRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_run_page_polls_progress_and_its_buttons_pause_resume_cancel(admin_client, business, fake_twilio):
    start_calls(admin_client, [lead.pk for lead in make_leads(business, 5)])
    run = OutboundCallRun.objects.get()
    page = admin_client.get(f"/admin/outbound/outboundcallrun/{run.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="run-dashboard"' in html and "fetch(slot.dataset.url" in html
    progress = admin_client.get(f"/admin/outbound/outboundcallrun/{run.pk}/progress/").json()
    assert (progress["queued"], progress["in_progress"], progress["total_leads"]) == (2, 3, 5)
    control = f"/admin/outbound/outboundcallrun/{run.pk}/control/"
    admin_client.post(control + "pause/")
    assert OutboundCallRun.objects.get().status == "paused"
    admin_client.post(control + "resume/")
    assert OutboundCallRun.objects.get().status == "running"
    admin_client.post(control + "cancel/")
    assert OutboundCallRun.objects.get().cancel_requested_at is not None
    assert run.calls.filter(status=CallStatus.CANCELED).count() == 2
    calls_page = admin_client.get(f"/admin/outbound/outboundcalljob/?run__id__exact={run.pk}")
    assert calls_page.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_staff_of_another_business_cannot_see_or_steer_the_run(admin_client, business, other_business, fake_twilio):
    start_calls(admin_client, [make_leads(business, 1)[0].pk])
    run = OutboundCallRun.objects.get()
    stranger = MembershipFactory(business=other_business).user
    stranger.is_staff = True
    stranger.save()
    stranger.user_permissions.set(
        Permission.objects.filter(codename__in=["view_outboundcallrun", "change_outboundcallrun"])
    )
    client = Client()
    client.force_login(stranger)
    assert client.get(f"/admin/outbound/outboundcallrun/{run.pk}/progress/").status_code == 404
    assert client.post(f"/admin/outbound/outboundcallrun/{run.pk}/control/cancel/").status_code == 404
    assert OutboundCallRun.objects.get().cancel_requested_at is None


@pytest.mark.django_db
def test_the_action_is_offered_in_hebrew(admin_client, business):
    make_leads(business, 1)
    assert "התחל שיחות" in admin_client.get(CHANGELIST).content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_change_pages_delete_keeps_a_lead_in_a_call_and_deletes_one_that_is_not(
    admin_client, staff, business, fake_twilio
):
    staff.user_permissions.add(Permission.objects.get(codename="delete_lead"))
    in_call, idle = make_leads(business, 2)
    start_calls(admin_client, [in_call.pk])
    call = OutboundCallJob.objects.get(lead=in_call)
    assert call.status == CallStatus.DIALING

    refused = admin_client.post(f"{CHANGELIST}{in_call.pk}/delete/", {"post": "yes"}, follow=True)
    assert refused.redirect_chain[-1][0] == f"{CHANGELIST}{in_call.pk}/change/"
    assert messages_of(refused) == ["הליד נמצא בשיחה פעילה ולא ניתן למחוק אותו כעת."]
    call.refresh_from_db()
    assert call.lead_id == in_call.pk and call.status == CallStatus.DIALING

    deleted = admin_client.post(f"{CHANGELIST}{idle.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302 and deleted["Location"] == CHANGELIST
    assert not type(idle).objects.filter(pk=idle.pk).exists()
    assert type(in_call).objects.filter(pk=in_call.pk).exists()
