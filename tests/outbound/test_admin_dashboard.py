"""The run page's dashboard against a whole run on the Twilio simulator: every number equals
the count the calls list gives, cancelled leads stay apart from finished ones, and the
skips announced by "start calls" are the skips the run reports."""

import re
import time

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from outbound import services
from outbound.models import OutboundCallJob, OutboundCallRun
from outbound.selectors import OUTCOME_KEYS
from tests.plugins.admin import staff_client
from tests.plugins.outbound import make_leads

CHANGELIST = "/admin/leads/lead/"
CALLS = "/admin/outbound/outboundcalljob/"
CallStatus = OutboundCallJob.Status
# The stored outcome value of each dashboard key (the calls list filters by it).
OUTCOME_VALUES = {key: key for key in OUTCOME_KEYS}


@pytest.fixture
def admin_client(business):
    return staff_client(
        business, "view_lead", "change_lead", "view_outboundcallrun", "change_outboundcallrun", "view_outboundcalljob"
    )


@pytest.fixture
def wired(settings, live_server, twilio_sim):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.OUTBOUND_DISPATCH = "inline"
    settings.TWILIO_CALLS_PER_SECOND = 50
    settings.OUTBOUND_MAX_ATTEMPTS = 1
    settings.OUTBOUND_CALLING_HOURS_START = ""
    settings.OUTBOUND_CALLING_HOURS_END = ""
    return twilio_sim


def drive(run: OutboundCallRun, until, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until():
        services.calls_reconcile()
        services.runs_tick()
        time.sleep(0.2)
    assert until(), "the run did not get there in time"


def numbers(html: str, attribute: str) -> dict[str, int]:
    return {key: int(value) for key, value in re.findall(rf'{attribute}="(\w+)">(\d+)<', html)}


def listed(client, run, **filters) -> int:
    query = "&".join(f"{key}={value}" for key, value in {"run__id__exact": run.pk, **filters}.items())
    return client.get(f"{CALLS}?{query}").context["cl"].result_count


@pytest.mark.django_db(transaction=True)
@pytest.mark.twilio_sim(
    time_scale=40, seed=11, outcomes={"completed": 4, "busy": 1, "no-answer": 1, "failed": 1}, machine_rate=0.25
)
def test_dashboard_numbers_equal_the_calls_list_and_cancelled_are_not_done(admin_client, business, wired):
    leads = make_leads(business, 40, do_not_call_every=10)
    ids = [lead.pk for lead in leads]
    confirm = admin_client.post(CHANGELIST, {"action": "start_calls", ACTION_CHECKBOX_NAME: ids, "select_across": "0"})
    announced = {fact.key: fact.value for fact in confirm.context["facts"] if fact.key}
    assert (confirm.context["count"], announced["do_not_call"], announced["to_call"]) == (40, 4, 36)
    assert not OutboundCallRun.objects.exists()

    admin_client.post(
        CHANGELIST,
        {
            "action": "start_calls",
            ACTION_CHECKBOX_NAME: ids,
            "select_across": "0",
            "confirmed": "yes",
            "concurrency": "2",
        },
    )
    run = OutboundCallRun.objects.get()
    dialed_and_done = OutboundCallJob.objects.filter(run=run, status__in=[CallStatus.COMPLETED, CallStatus.FAILED])
    drive(run, lambda: dialed_and_done.count() >= 8)
    cancelled = admin_client.post(f"/admin/outbound/outboundcallrun/{run.pk}/control/cancel/", follow=True)
    assert "run-dashboard" in cancelled.content.decode()
    drive(run, lambda: not OutboundCallRun.objects.get(pk=run.pk).is_active)

    html = admin_client.get(f"/admin/outbound/outboundcallrun/{run.pk}/dashboard/").content.decode()
    outcomes = numbers(html, "data-outcome")
    assert set(outcomes) == set(OUTCOME_KEYS)
    for key, value in OUTCOME_VALUES.items():
        assert outcomes[key] == listed(admin_client, run, outcome__exact=value), key
    assert outcomes["canceled"] > 0 and outcomes["answered"] > 0 and outcomes["do_not_call"] == 4
    assert numbers(html, "data-skipped")["do_not_call"] == announced["do_not_call"]
    # The bar counts finished leads only: cancelled ones are shown apart, never as done.
    done = int(re.search(r'data-done="(\d+)"', html).group(1))
    assert done == sum(outcomes.values()) - outcomes["canceled"]
    assert done == listed(admin_client, run) - listed(admin_client, run, outcome__exact="canceled")
    assert f"{outcomes['canceled']} בוטלו ולא חויגו" in html
    # A finished run offers no buttons but the calls list.
    assert "data-control=" not in html


@pytest.mark.django_db(transaction=True)
def test_a_second_run_is_refused_with_a_link_to_the_active_run(admin_client, business, fake_twilio):
    first, second = make_leads(business, 2)
    for lead in (first, second):
        response = admin_client.post(
            CHANGELIST,
            {
                "action": "start_calls",
                ACTION_CHECKBOX_NAME: [lead.pk],
                "select_across": "0",
                "confirmed": "yes",
                "concurrency": "1",
            },
            follow=True,
        )
    run = OutboundCallRun.objects.get()
    html = response.content.decode()
    assert "תור שיחות פעיל כבר קיים" in html
    assert f'<a href="/admin/outbound/outboundcallrun/{run.pk}/change/"><bdi dir="ltr">#{run.pk}</bdi></a>' in html


@pytest.mark.django_db(transaction=True)
def test_run_buttons_follow_the_state_and_every_press_says_what_happened(admin_client, business, fake_twilio):
    ids = [lead.pk for lead in make_leads(business, 6)]
    admin_client.post(
        CHANGELIST,
        {
            "action": "start_calls",
            ACTION_CHECKBOX_NAME: ids,
            "select_across": "0",
            "confirmed": "yes",
            "concurrency": "1",
        },
    )
    run = OutboundCallRun.objects.get()
    page = f"/admin/outbound/outboundcallrun/{run.pk}/"

    def controls():
        html = admin_client.get(page + "dashboard/").content.decode()
        return set(re.findall(r'data-control="(\w+)"', html))

    assert controls() == {"pause", "cancel"}
    paused = admin_client.post(page + "control/pause/", follow=True)
    assert [str(m) for m in paused.context["messages"]] and controls() == {"resume", "cancel"}
    # Cancel asks first: the GET is a confirmation with the count, and changes nothing.
    confirm = admin_client.get(page + "control/cancel/")
    assert confirm.status_code == 200 and 'data-role="count">5<' in confirm.content.decode()
    assert OutboundCallRun.objects.get().cancel_requested_at is None
    cancelled = admin_client.post(page + "control/cancel/", follow=True)
    assert "הריצה מבוטלת" in " ".join(str(m) for m in cancelled.context["messages"])
    assert controls() == set()
