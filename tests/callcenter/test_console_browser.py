"""The console's mass actions in a real browser (Playwright driving Debian's chromium), as
staff use them: select, choose the action, read the confirmation, confirm or go back."""

import re

import pytest
from django.contrib.auth.models import Permission

from callcenter.models import BackgroundJob
from leads.models import Lead
from outbound.models import OutboundCallRun
from tests.factories import MembershipFactory
from tests.leads.helpers import run_job
from tests.plugins.browser import logged_in_page
from tests.plugins.leads import insert_leads
from tests.plugins.outbound import make_leads

CODENAMES = [
    "view_lead",
    "change_lead",
    "delete_lead",
    "view_backgroundjob",
    "view_outboundcallrun",
    "change_outboundcallrun",
    "view_outboundcalljob",
]


@pytest.fixture
def staff(business):
    user = MembershipFactory(business=business).user
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__in=CODENAMES))
    return user


def choose_action(page, action: str, *, select_across: bool) -> None:
    page.check("#action-toggle")
    if select_across:
        page.click(".actions .question a")  # "select all N leads"
    page.select_option('select[name="action"]', action)
    page.click('.actions button[name="index"]')
    page.wait_for_selector("#confirm-action")


@pytest.mark.django_db(transaction=True)
def test_select_all_of_50000_confirms_50000_and_the_job_total_is_50000(console_browser, live_server, business, staff):
    insert_leads(business, 50_000, status="new")
    insert_leads(business, 25, status="converted", first_number=100_000)
    page = logged_in_page(console_browser, live_server, staff)
    page.goto(f"{live_server.url}/admin/leads/lead/?status=new")

    choose_action(page, "delete_in_background", select_across=True)

    count = page.locator('[data-role="count"]')
    assert count.get_attribute("data-count") == "50000" and count.inner_text() == "50,000"
    assert not BackgroundJob.objects.exists()
    page.click('[data-role="confirm"]')
    page.wait_for_selector(".messagelist .success")
    assert "50000" in page.inner_text(".messagelist") or "50,000" in page.inner_text(".messagelist")
    job = BackgroundJob.objects.get()
    assert job.progress_total == 50_000
    job = run_job(job.pk)
    assert (job.progress_done, job.progress_total, job.result["deleted"]) == (50_000, 50_000, 50_000)
    assert Lead.objects.filter(business=business).count() == 25


@pytest.mark.django_db(transaction=True)
def test_backing_out_of_any_confirmation_changes_nothing(console_browser, live_server, business, staff, fake_twilio):
    make_leads(business, 12)
    page = logged_in_page(console_browser, live_server, staff)
    changelist = f"{live_server.url}/admin/leads/lead/"
    for action in ("delete_in_background", "bulk_update", "start_calls"):
        for way_back in ("link", "browser"):
            page.goto(changelist)
            choose_action(page, action, select_across=False)
            if way_back == "link":
                page.click('[data-role="back"]')
            else:
                page.go_back()
            page.wait_for_selector("#changelist")
    assert not BackgroundJob.objects.exists() and not OutboundCallRun.objects.exists()
    assert Lead.objects.count() == 12 and not fake_twilio.create_attempts


@pytest.mark.django_db(transaction=True)
def test_start_calls_on_a_filter_shows_the_skips_the_run_then_reports(
    console_browser, live_server, business, staff, fake_twilio
):
    leads = make_leads(business, 130, do_not_call_every=10)  # more than a page: "select all 129"
    Lead.objects.filter(pk=leads[1].pk).update(status="converted")  # outside the filter
    page = logged_in_page(console_browser, live_server, staff)
    page.goto(f"{live_server.url}/admin/leads/lead/?status=new")

    choose_action(page, "start_calls", select_across=True)

    facts = {
        row.get_attribute("data-fact"): row.locator("td").inner_text() for row in page.locator("tr[data-fact]").all()
    }
    assert page.locator('[data-role="count"]').get_attribute("data-count") == "129"
    assert (facts["do_not_call"], facts["invalid"], facts["in_active_call"], facts["to_call"]) == (
        "13",
        "0",
        "0",
        "116",
    )
    page.select_option('select[name="concurrency"]', "2")
    page.click('[data-role="confirm"]')
    page.wait_for_selector("#run-dashboard")

    run = OutboundCallRun.objects.get()
    assert run.total_leads == 129 and run.concurrency == 2
    assert run.selection == {"filter": {"status": ["new"]}}
    skipped = {
        key: int(page.locator(f'[data-skipped="{key}"]').inner_text())
        for key in ("do_not_call", "invalid_number", "in_active_call")
    }
    assert skipped == {"do_not_call": 13, "invalid_number": 0, "in_active_call": 0}
    assert page.locator('[data-outcome="do_not_call"]').inner_text() == "13"
    assert int(page.locator('[data-field="in_progress"]').inner_text()) == 2
    # The message names the run with a link to it.
    link = page.locator(".messagelist a").first
    assert re.search(rf"/admin/outbound/outboundcallrun/{run.pk}/change/$", link.get_attribute("href"))
