"""/healthz and /readyz: no login, no tenant data, 503 naming the failing part."""

import shutil
import signal
import subprocess
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Schedule

from tests.plugins.front import free_port
from tests.plugins.outbound import kill_cluster, start_worker


def ready(client) -> tuple[int, dict]:
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


@pytest.fixture
def redis_broker(monkeypatch):
    """Point django-q2 at a Redis broker on `port` (nothing listens there unless started)."""

    def use(port: int) -> None:
        monkeypatch.setattr(Conf, "ORM", None)
        monkeypatch.setattr(Conf, "REDIS", f"redis://127.0.0.1:{port}/0")

    return use


def test_the_cluster_reports_through_a_cache_every_process_of_the_host_shares(settings):
    # Without Redis, django-q2 keeps cluster stats in the cache Q_CLUSTER names: it must
    # exist and not be process-local, or /readyz never sees a cluster.
    alias = settings.Q_CLUSTER.get("cache", "default")
    assert "redis" in settings.Q_CLUSTER or "locmem" not in settings.CACHES[alias]["BACKEND"].lower()


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_names_the_broker_when_it_is_down(client, redis_broker):
    call_command("setup_schedules", stdout=None)
    redis_broker(free_port())
    status, body = ready(client)
    assert status == 503
    assert "broker" in body["failing"]
    assert body["checks"]["broker"] == "ConnectionError"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == "ok"


@pytest.mark.django_db
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")
def test_readyz_follows_a_real_redis_going_down(client, redis_broker, tmp_path):
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        redis_broker(port)
        deadline = time.monotonic() + 10
        while ready(client)[1]["checks"]["broker"] != "ok":
            assert time.monotonic() < deadline, "redis never answered"
            time.sleep(0.1)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
        status, body = ready(client)
        assert status == 503 and "broker" in body["failing"]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.django_db
def test_readyz_reports_missing_schedules_and_a_stalled_scheduler(client, settings):
    settings.READYZ_SKIP_CHECKS = {"qcluster"}
    status, body = ready(client)
    assert status == 503 and body["failing"] == ["scheduler"]
    assert body["checks"]["scheduler"] == "no schedules registered"

    call_command("setup_schedules", stdout=None)
    assert ready(client)[0] == 200
    Schedule.objects.update(next_run=timezone.now() - timedelta(minutes=10))
    status, body = ready(client)
    assert status == 503 and body["failing"] == ["scheduler"]
    assert body["checks"]["scheduler"].startswith("last tick 6")


@pytest.mark.django_db(transaction=True)
def test_readyz_is_200_with_a_live_cluster_and_503_when_it_dies(client, settings, tmp_path, live_server, twilio_sim):
    # The cluster reports itself through the file cache of its var directory; read the same.
    settings.CACHES = {
        **settings.CACHES,
        "qcluster_stats": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "qcluster-stats"),
        },
    }
    call_command("setup_schedules", stdout=None)
    status, body = ready(client)
    assert status == 503 and body["failing"] == ["qcluster"]

    worker = start_worker(live_server=live_server, sim=twilio_sim, tmp_path=tmp_path, Q_WORKERS="1")
    try:
        deadline = time.monotonic() + 30
        while (status := ready(client)[0]) != 200:
            assert time.monotonic() < deadline, ready(client)[1]
            time.sleep(0.3)
    finally:
        kill_cluster(worker, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (answer := ready(client))[0] == 200:
        assert time.monotonic() < deadline, "the dead cluster still counts as alive"
        time.sleep(0.3)
    assert answer[1]["failing"] == ["qcluster"]
    assert answer[1]["checks"]["qcluster"] == "no cluster reporting"
