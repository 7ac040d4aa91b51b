"""Shared by the recordings benchmarks: a real gunicorn on PostgreSQL, its memory, timings."""

import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

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
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()


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
