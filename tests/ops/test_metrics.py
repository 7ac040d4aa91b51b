"""/metrics: the counters a simulated run produced, the state gauges, access control."""

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from callcenter.models import BackgroundJob
from outbound import services
from outbound.models import OutboundCallJob, OutboundCallRun
from tests.plugins.outbound import make_leads


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.status_code
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def drive_until_finished(run: OutboundCallRun, *, timeout: float) -> OutboundCallRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if not run.is_active:
            return run
        services.runs_tick()
        time.sleep(0.2)
    run.refresh_from_db()
    return run


@pytest.mark.django_db(transaction=True)
@pytest.mark.twilio_sim(time_scale=100, seed=11, outcomes={"completed": 1}, callback_duplicate_rate=0.3)
def test_counters_after_a_simulated_run_match_what_the_run_did(client, business, settings, live_server, twilio_sim):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.OUTBOUND_DISPATCH = "inline"
    settings.TWILIO_CALLS_PER_SECOND = 50
    settings.OUTBOUND_CALLING_HOURS_START = settings.OUTBOUND_CALLING_HOURS_END = ""
    settings.OUTBOUND_STUCK_CALL_SECONDS = 3600  # callbacks only: no reconciler fetch in between
    leads = make_leads(business, 8)
    phones = {lead.phone for lead in leads}
    before = scrape(client)

    run = services.outbound_run_start(business=business, selection={"lead_ids": [lead.pk for lead in leads]})
    run = drive_until_finished(run, timeout=60)
    assert run.status == OutboundCallRun.Status.SUCCEEDED, run.message
    # Callbacks still in flight after the run finished (a duplicate of the last one) land first.
    assert twilio_sim.wait_idle(timeout=30)
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    calls = [call for call in twilio_sim.calls() if call["to"] in phones]
    assert delta("callcenter_dials_started_total") == len(calls) == 8
    status_callbacks = [
        entry for call in calls for entry in call["callbacks"] if entry["kind"] == "status" and entry.get("http_status")
    ]
    duplicates = [entry for entry in status_callbacks if entry.get("fault") == "duplicate"]
    assert duplicates, "the simulator was asked to duplicate callbacks"
    assert delta("callcenter_webhooks_received_total", webhook="call_status_webhook") == len(status_callbacks)
    assert delta("callcenter_webhooks_duplicate_total", webhook="call_status_webhook") == len(duplicates)
    assert delta("callcenter_webhooks_rejected_total", webhook="call_status_webhook") == 0
    assert delta("callcenter_webhook_duration_seconds_count", webhook="call_status_webhook") == len(status_callbacks)
    job_type = BackgroundJob.JobType.ENQUEUE_OUTBOUND_CALLS
    assert delta("callcenter_background_jobs_started_total", job_type=job_type) == 1
    assert delta("callcenter_background_jobs_finished_total", job_type=job_type, status="succeeded") == 1
    # The state gauges, read from the database at scrape time.
    assert value(after, "callcenter_calls_in_progress", status="calling") == 0
    assert (
        value(after, "callcenter_outbound_runs", status="succeeded")
        == OutboundCallRun.objects.filter(status="succeeded").count()
    )
    assert value(after, "callcenter_background_jobs", job_type=job_type, status="succeeded") >= 1
    assert value(after, "callcenter_state_collector_up") == 1
    # No phone number and no call SID anywhere in the exposition.
    text = client.get("/metrics").content.decode()
    assert not any(phone in text or phone.lstrip("+") in text for phone in phones)
    assert not any(call["sid"] in text for call in calls)
    assert OutboundCallJob.objects.filter(run=run).count() == 8


@pytest.mark.django_db
def test_forged_webhooks_and_twilio_errors_are_counted_by_class(client, settings, twilio_sim):
    from callcenter import twilio_gateway
    from callcenter.twilio_gateway import PermanentTwilioError

    settings.TWILIO_AUTH_TOKEN = twilio_sim.config.auth_token
    before = scrape(client)
    assert client.post("/webhooks/twilio/call-status?job_id=1", {"CallSid": "CA1"}).status_code == 403
    twilio_sim.configure(invalid_numbers=frozenset({"+972500000001"}))
    with pytest.raises(PermanentTwilioError):
        twilio_gateway.call_create(
            to="+972500000001", twiml_url="http://127.0.0.1:9/", status_callback_url="http://127.0.0.1:9/"
        )
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("callcenter_webhooks_rejected_total", webhook="call_status_webhook") == 1
    assert delta("callcenter_twilio_errors_total", operation="calls.create", error_class="invalid_number") == 1
    assert delta("callcenter_dials_refused_total", error_class="invalid_number") == 1


@pytest.mark.django_db
def test_metrics_need_the_token_or_an_allowed_address(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


@pytest.mark.django_db
def test_behind_a_proxy_the_address_is_the_one_the_proxy_forwarded(client, settings):
    # gunicorn on nginx's unix socket has no peer address: the client is what nginx forwarded.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert client.get("/metrics", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 404
    # An entry the client wrote itself comes before the proxy's own and is not believed.
    spoofed = "127.0.0.1, 203.0.113.5"
    assert client.get("/metrics", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR=spoofed).status_code == 404
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    assert client.get("/metrics", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 404


@pytest.mark.django_db
def test_request_latency_is_labelled_by_route_pattern_not_path(client):
    client.get("/api/recordings/file/CAsecretcallsid0000000000000000000")
    text = client.get("/metrics").content.decode()
    assert 'route="api/recordings/file/<sid:call_sid>"' in text
    assert "CAsecretcallsid" not in text


@pytest.mark.django_db
def test_stale_jobs_and_stuck_downloads_recovered_are_counted(client, business):
    from datetime import timedelta

    from django.utils import timezone

    from callcenter.services import background_jobs_fail_stale
    from recordings.services import recording_runs_fail_stuck
    from tests.plugins.recordings import recording_create, run_create

    before = scrape(client)
    BackgroundJob.objects.create(
        business=business,
        job_type=BackgroundJob.JobType.DELETE_LEADS,
        status=BackgroundJob.Status.RUNNING,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    run_create(recording=recording_create(business=business), status="running", minutes_old=30)
    assert background_jobs_fail_stale() == 1
    assert recording_runs_fail_stuck() == 1
    after = scrape(client)
    for kind in ("background_job", "recording_download"):
        name = "callcenter_stale_jobs_recovered_total"
        assert value(after, name, kind=kind) - value(before, name, kind=kind) == 1


@pytest.mark.parametrize(
    ("code", "http_status", "cause", "expected"),
    [
        (20429, 429, None, "rate_limited"),
        (None, 503, None, "server_error"),
        (None, None, "timeout", "timeout"),
        (None, None, "connection", "connection"),
        (21211, 400, None, "invalid_number"),
        (20003, 401, None, "auth"),
        (20404, 404, None, "not_found"),
        (21220, 400, None, "client_error"),
        (None, None, None, "other"),
    ],
)
def test_twilio_errors_fall_in_a_small_fixed_set_of_classes(code, http_status, cause, expected):
    import requests

    from callcenter.ops.metrics import twilio_error_class
    from callcenter.twilio_gateway import TwilioGatewayError

    causes = {"timeout": requests.Timeout(), "connection": requests.ConnectionError(), None: None}
    error = TwilioGatewayError("x", code=code, http_status=http_status)
    assert twilio_error_class(error, cause=causes[cause]) == expected
