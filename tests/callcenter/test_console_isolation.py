"""Left-to-right data stays readable on the right-to-left pages, and a staff user's filter
sidebars offer only what belongs to their own businesses."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client

from callcenter.demo_console import STAFF_PERMISSION_APPS, console_demo_create
from callcenter.models import Membership
from leads.models import Lead
from tests.callcenter.test_console_pages import VisibleText
from tests.factories import BusinessFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    # A clock of our own: the pages show dates and times, and the numbers looked for below
    # (a row number, an id) must not turn up in today's date or time by chance.
    with time_machine.travel(datetime(2026, 3, 10, 9, 15, tzinfo=UTC)):
        yield console_demo_create()


@pytest.fixture
def client_of(demo):
    client = Client()
    client.force_login(demo.staff)
    return client


def assert_isolated(html: str, value: str) -> None:
    """`value` appears, and only inside a left-to-right isolate (or the title's LRI…PDI)."""
    assert f'<bdi dir="ltr">{value}</bdi>' in html or f'dir="ltr">{value}<' in html, value
    assert value not in VisibleText.of(html), f"{value} outside an isolate"


def test_phones_and_ids_sit_in_ltr_isolates_in_list_change_page_and_import_report(client_of, demo):
    lead = Lead.objects.filter(business=demo.business).order_by("pk").last()  # on the first page
    listing = client_of.get("/admin/leads/lead/").content.decode()
    assert_isolated(listing, lead.phone)
    assert_isolated(listing, f"#{lead.pk}")

    change = client_of.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert f"\u2066{lead.phone}\u2069" in re.search(r"<title>(.*?)</title>", change, re.S).group(1)
    assert f'<h1>ליד {lead.name} <bdi dir="ltr">{lead.phone}</bdi></h1>' in change

    report = client_of.get(f"/admin/leads/leadimport/{demo.lead_import.pk}/change/").content.decode()
    assert_isolated(report, "+972501234567")  # the rejected value
    assert_isolated(report, "44")  # its row number

    call = demo.finished_run.calls.exclude(call_sid=None).order_by("id").first()
    call_page = client_of.get(f"/admin/outbound/outboundcalljob/{call.pk}/change/").content.decode()
    assert_isolated(call_page, call.phone)
    assert_isolated(call_page, call.call_sid)

    run_page = client_of.get(f"/admin/outbound/outboundcallrun/{demo.finished_run.pk}/change/").content.decode()
    assert f'<bdi dir="ltr">#{demo.finished_run.pk}</bdi>' in run_page
    assert 'pre dir="ltr" class="ltr-json"' in run_page  # the selection's JSON


def test_messages_isolate_and_link_the_job_they_name(client_of, demo):
    lead = Lead.objects.filter(business=demo.business).order_by("pk").last()
    response = client_of.post(
        "/admin/leads/lead/",
        {"action": "delete_in_background", "_selected_action": [lead.pk], "confirmed": "yes"},
        follow=True,
    )
    job = demo.business.background_jobs.get(job_type="delete_leads")
    assert f'<a href="/admin/callcenter/backgroundjob/{job.pk}/change/"><bdi dir="ltr">#{job.pk}</bdi></a>' in (
        response.content.decode()
    )


FILTERED_LISTS = [
    "/admin/leads/lead/",
    "/admin/leads/leadimport/",
    "/admin/outbound/outboundcallrun/",
    "/admin/outbound/outboundcalljob/",
    "/admin/callcenter/backgroundjob/",
    "/admin/recordings/recording/",
    "/admin/recordings/recordingrun/",
]


def test_filter_sidebars_list_nothing_of_another_business(client_of, demo):
    # The staff user belongs to two businesses (so the business filter is shown) ...
    second = BusinessFactory(name="סניף צפון")
    Membership.objects.create(user=demo.staff, business=second)
    # ... and another business has runs, imports and calls of its own.
    stranger = console_demo_create(business_name="עסק זר", staff_username="זר", leads=60)
    foreign_choices = {
        f'run__id__exact={stranger.finished_run.pk}"',
        f'run__id__exact={stranger.active_run.pk}"',
        f'lead_import={stranger.lead_import.pk}"',
        f'business__id__exact={stranger.business.pk}"',
        f'business={stranger.business.pk}"',
    }
    for url in FILTERED_LISTS:
        html = client_of.get(url).content.decode()
        sidebar = html[html.find('id="changelist-filter"') :]
        sidebar = sidebar[: sidebar.find("</nav>")] if "</nav>" in sidebar else sidebar
        assert "עסק זר" not in sidebar, url
        assert not [choice for choice in foreign_choices if choice in sidebar], url
    business_filter = client_of.get("/admin/outbound/outboundcallrun/").content.decode()
    assert "סניף צפון" in business_filter and "מוקד הדגמה" in business_filter


def test_staff_permissions_of_the_demo_cover_the_console(demo):
    assert Permission.objects.filter(content_type__app_label__in=STAFF_PERMISSION_APPS).count() == (
        demo.staff.user_permissions.count()
    )
