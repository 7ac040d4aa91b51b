"""Shared by the recordings benchmarks: a real gunicorn on PostgreSQL, its memory, timings."""

import hashlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cc_recordings"


def setup_django(*, media_root: str | None = None) -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        sys.exit("The benchmarks run on PostgreSQL: set DATABASE_URL=postgres://...")
    if media_root:
        os.environ["MEDIA_ROOT"] = media_root
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    sys.path.insert(0, str(ROOT))
    ensure_database(os.environ["DATABASE_URL"])
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()


def ensure_database(url: str) -> None:
    """Create DATABASE_URL's database when it does not exist yet (a fresh machine)."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    with psycopg.connect(urlunparse(parsed._replace(path="/postgres")), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


@dataclass
class BenchRecording:
    """A member's token and a downloaded recording of random bytes, stored under MEDIA_ROOT."""

    business: object
    user: object
    token: str
    call_sid: str
    name: str
    size: int
    checksum: str

    def delete(self) -> None:
        self.business.delete()
        self.user.delete()


def bench_recording_create(*, tag: str, business_name: str, media_root: Path, size_mb: int) -> BenchRecording:
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from callcenter.models import Business, Membership
    from recordings.models import Recording

    business = Business.objects.create(name=business_name)
    user = get_user_model().objects.create(username=f"bench-{tag}-{business.pk}")
    Membership.objects.create(user=user, business=business)
    token = Token.objects.create(user=user).key
    call_sid = f"CAbench{tag}{business.pk}"
    name = f"recordings/{business.pk}/{call_sid}.mp3"
    path = Path(media_root) / name
    path.parent.mkdir(parents=True)
    digest = hashlib.sha256()
    with open(path, "wb") as file:
        for _ in range(size_mb):
            block = os.urandom(2**20)
            digest.update(block)
            file.write(block)
    checksum = digest.hexdigest()
    Recording.objects.create(
        business=business,
        call_sid=call_sid,
        recording_sid=f"REbench{tag}",
        file=name,
        size_bytes=size_mb * 2**20,
        content_type="audio/mpeg",
        checksum_sha256=checksum,
        downloaded_at=timezone.now(),
    )
    return BenchRecording(business, user, token, call_sid, name, size_mb * 2**20, checksum)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn serving the project (bench settings) like the Procfile does."""

    def __init__(self, *, workers: int = 2, threads: int = 4):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_CONN_MAX_AGE": "60",
            "LOG_LEVEL": "WARNING",
            # The web server refuses the development key with debug off: this run's own key.
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
            # One user polling without think time is the load measured, not a client to throttle.
            "API_THROTTLE_USER_RATE": os.environ.get("API_THROTTLE_USER_RATE", "1000000/min"),
        }
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "callcenter.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                # Any answer will do (a 404 too): the server is up.
                requests.get(f"{self.url}/bench-ready", timeout=10)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)

    def rss_bytes(self) -> int:
        """Resident memory of the master and its workers together."""
        try:
            master = psutil.Process(self.process.pid)
            return sum(p.memory_info().rss for p in [master, *master.children(recursive=True)])
        except psutil.NoSuchProcess:
            return 0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class MemorySampler:
    """Peak resident memory of the server while the block runs (sampled every 50 ms)."""

    def __init__(self, server: Gunicorn):
        self.server = server
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        self.peak = self.server.rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.server.rss_bytes())

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()


def timed_request(
    session: requests.Session, method: str, url: str, *, expected: int, latencies: list[float], failures: list[str]
) -> requests.Response:
    """One request: its latency is recorded, an answer other than `expected` is kept as a failure."""
    began = time.perf_counter()
    response = session.request(method, url, timeout=30)
    latencies.append(time.perf_counter() - began)
    if response.status_code != expected:
        failures.append(f"{response.status_code} {response.text[:200]}")
    return response


def run_pollers(poll, *, pollers: int, url: str) -> list[float]:
    """Runs `poll(latencies, failures)` in that many threads at once and returns every latency;
    exits with the first unexpected answer when there was one."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def poller():
        mine: list[float] = []
        poll(mine, failures)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=poller) for _ in range(pollers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{url}: {len(failures)} unexpected answers, first: {failures[0]}")
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(latencies: list[float]) -> str:
    return (
        f"n={len(latencies)} p50={percentile(latencies, 0.5) * 1000:.1f} ms "
        f"p99={percentile(latencies, 0.99) * 1000:.1f} ms mean={statistics.fmean(latencies) * 1000:.1f} ms"
    )


def mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"
