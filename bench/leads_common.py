"""Shared setup of the lead benchmarks: a scratch PostgreSQL database and Django.

DATABASE_URL names the server (and a database on it); the benchmarks create
`<that database>_bench`, migrate it, run, and drop it at the end.
"""

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def scratch_url(base_url: str, suffix: str) -> str:
    parsed = urlparse(base_url)
    name = (parsed.path.lstrip("/") or "postgres") + suffix
    return urlunparse(parsed._replace(path="/" + name))


def _admin_connect(url: str):
    import psycopg

    parsed = urlparse(url)
    return psycopg.connect(
        host=parsed.hostname,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname="postgres",
        autocommit=True,
    )


@contextmanager
def scratch_database(suffix: str):
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/cc_leads")
    url = scratch_url(base, suffix)
    name = urlparse(url).path.lstrip("/")
    with _admin_connect(base) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    try:
        django_setup(migrate=True)
        yield url
    finally:
        from django.db import connections

        connections.close_all()
        with _admin_connect(base) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def django_setup(*, migrate: bool = False) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcenter.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def sql(statement: str, params=None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def vacuum() -> None:
    sql("VACUUM ANALYZE leads")


def insert_leads(business_id: int, count: int, *, first: int = 0, lead_import_id=None) -> None:
    sql(
        """
        INSERT INTO leads (business_id, phone, name, email, custom_fields, status, do_not_call,
                           lead_import_id, created_at, updated_at)
        SELECT %s, '+9725' || lpad(n::text, 8, '0'), 'Lead ' || n, '', '{"source": "bench"}'::jsonb,
               'new', false, %s, now(), now()
        FROM generate_series(%s, %s) AS n
        """,
        [business_id, lead_import_id, first, first + count - 1],
    )


@contextmanager
def timed(results: dict, key: str):
    started = time.perf_counter()
    yield
    results[key] = time.perf_counter() - started


class PeakRss:
    """Samples this process's RSS every 5 ms in a thread; .peak in bytes."""

    def __init__(self):
        import psutil

        self._process = psutil.Process()
        self.start = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def run_child(script: Path, *args: str) -> dict:
    """Run `script --child ...` in a fresh interpreter (its own memory) and return its JSON."""
    output = subprocess.run(
        [sys.executable, str(script), "--child", *args], check=True, capture_output=True, text=True, env=os.environ
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def mb(n_bytes: float) -> str:
    return f"{n_bytes / 1024 / 1024:.0f} MB"
