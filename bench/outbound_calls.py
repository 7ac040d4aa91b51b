"""Outbound runs under load: web + workers + the Twilio simulator on this machine.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_outbound .venv/bin/python bench/outbound_calls.py
    (defaults: --businesses 20 --leads 50 --web-workers 2 --threads 4 --q-workers 2 --time-scale 200;
     the issue's 100 runs x 100 leads is --businesses 100 --leads 100, about 6 minutes on 2 cores)

Creates a scratch database `<DATABASE_URL's database>_bench`, then:

1. system: gunicorn (webhooks) + a django-q2 cluster (fills) + the simulator; one run per
   business, all started at once. Prints calls/s, webhook latency p50/p99 (gunicorn's own
   request time of /webhooks/twilio/call-status) and cap violations (runs whose calls
   overlapped more than their concurrency in the simulator's timelines; must be 0).
2. per call, single-threaded through our services (calls.create answered locally, no
   network): time and SQL statements per call of a whole run.
3. baseline: a minimal raw-psycopg loop doing the same state changes per call on the same
   tables (claim under the run lock, store the SID, two callbacks with an event row each,
   release), single-threaded: time and statements per call. Ratios 2 / 3 are printed.
"""

import argparse
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable


def scratch_url(base_url: str) -> str:
    parsed = urlparse(base_url)
    return urlunparse(parsed._replace(path="/" + (parsed.path.lstrip("/") or "postgres") + "_bench"))


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    with psycopg.connect(
        host=parsed.hostname,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, check=True
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def make_run_leads(business, count: int, prefix: str) -> set[str]:
    from leads.models import Lead

    Lead.objects.bulk_create(
        Lead(business=business, phone=f"{prefix}{index:05d}", name=f"Bench {index}") for index in range(count)
    )
    return {f"{prefix}{index:05d}" for index in range(count)}


# --- 1. the system --------------------------------------------------------------------------


def bench_system(args, sim) -> dict:
    from django.conf import settings

    from callcenter.services import business_create
    from outbound import services
    from outbound.models import OutboundCallRun
    from twilio_sim import max_overlap

    port = free_port()
    access_log = Path(os.environ["CALLCENTER_VAR_DIR"]) / "bench-access.log"
    access_log.unlink(missing_ok=True)
    env = {**os.environ, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "Q_WORKERS": str(args.q_workers)}
    web = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "callcenter.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.web_workers),
            "--threads",
            str(args.threads),
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            "%(U)s %(s)s %(D)s",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [PYTHON, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    settings.PUBLIC_BASE_URL = env["PUBLIC_BASE_URL"]
    try:
        time.sleep(3)  # gunicorn and the cluster start
        phones_by_run = {}
        businesses = [business_create(name=f"Bench {index}") for index in range(args.businesses)]
        for index, business in enumerate(businesses):
            phones = make_run_leads(business, args.leads, prefix=f"+97253{index:03d}")
            phones_by_run[business.pk] = phones
        started = time.monotonic()
        runs = [services.outbound_run_start(business=business, selection={"filter": {}}) for business in businesses]
        deadline = started + args.timeout
        last_tick = started
        while time.monotonic() < deadline:
            if not OutboundCallRun.objects.filter(status__in=OutboundCallRun.ACTIVE_STATUSES).exists():
                break
            if time.monotonic() - last_tick > 2:
                # The schedules' work (every minute in production).
                services.calls_reconcile()
                services.runs_tick()
                last_tick = time.monotonic()
            time.sleep(0.2)
        elapsed = time.monotonic() - started
    finally:
        stop(worker)
        stop(web)
    sim_calls = sim.calls()
    violations = 0
    for run in runs:
        run.refresh_from_db()
        if max_overlap(sim_calls, to_numbers=phones_by_run[run.business_id]) > run.concurrency:
            violations += 1
    latencies = []
    for line in access_log.read_text().splitlines():
        path, _status, micros = line.split()
        if path == "/webhooks/twilio/call-status":
            latencies.append(int(micros) / 1000)
    statuses = Counter(OutboundCallRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True))
    return {
        "runs": len(runs),
        "calls": len(sim_calls),
        "elapsed": elapsed,
        "calls_per_second": len(sim_calls) / elapsed,
        "webhooks": len(latencies),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "violations": violations,
        "run_statuses": dict(statuses),
    }


# --- 2. statements per call, in process -----------------------------------------------------


class StatementCounter:
    """Counts and times every SQL statement of this process, in every thread."""

    def __init__(self):
        self.count = 0
        self.seconds = 0.0
        self._lock = threading.Lock()
        # The bench's own polling thread, once set, is not counted.
        self.ignored_thread = None
        self.by_shape: Counter = Counter()

    def __enter__(self):
        from django.db.backends import utils

        self._original = utils.CursorWrapper._execute_with_wrappers
        counter = self

        def counted(cursor, sql, params, many, executor):
            if threading.current_thread() is counter.ignored_thread:
                return counter._original(cursor, sql, params, many, executor)
            started = time.perf_counter()
            try:
                return counter._original(cursor, sql, params, many, executor)
            finally:
                spent = time.perf_counter() - started
                with counter._lock:
                    counter.count += 1
                    counter.seconds += spent
                    counter.by_shape[" ".join(sql.split())[:90]] += spent

        utils.CursorWrapper._execute_with_wrappers = counted
        return self

    def __exit__(self, *exc_info):
        from django.db.backends import utils

        utils.CursorWrapper._execute_with_wrappers = self._original


def bench_statements(args) -> dict:
    """Our whole per-call path, single-threaded like the baseline: claim, dial, two status
    callbacks through the webhook service, release and the next claim (fills inline on
    commit). calls.create is answered locally, so only our code and the database are timed."""
    import uuid

    from django.conf import settings
    from django.utils import timezone

    from callcenter import twilio_gateway
    from callcenter.services import business_create
    from outbound import services
    from outbound.models import OutboundCallRun

    placed: list[tuple[str, int, int]] = []

    def call_create(*, to, status_callback_url, **_options):
        query = dict(part.split("=") for part in status_callback_url.split("?", 1)[1].split("&"))
        sid = f"CA{uuid.uuid4().hex}"
        placed.append((sid, int(query["job_id"]), int(query["claim"])))
        return twilio_gateway.CallInfo(sid, "queued", to, "+15005550006", None, None, None, None, timezone.now())

    original_create = twilio_gateway.call_create
    twilio_gateway.call_create = call_create
    settings.OUTBOUND_DISPATCH = "inline"
    business = business_create(name="Bench per call")
    make_run_leads(business, args.statement_leads, prefix="+97254999")
    try:
        with StatementCounter() as counter:
            started = time.perf_counter()
            run = services.outbound_run_start(business=business, selection={"filter": {}})
            answered = 0
            while answered < len(placed):
                sid, job_id, claim = placed[answered]
                answered += 1
                for sequence, status in enumerate(("in-progress", "completed")):
                    params = {"CallSid": sid, "CallStatus": status, "SequenceNumber": str(sequence + 1)}
                    services.call_status_callback_record(job_id=job_id, claim_number=claim, params=params)
            seconds = time.perf_counter() - started
    finally:
        twilio_gateway.call_create = original_create
        settings.OUTBOUND_DISPATCH = "queue"
    run.refresh_from_db()
    assert run.status == OutboundCallRun.Status.SUCCEEDED, run.status
    return {
        "calls": len(placed),
        "statements": counter.count,
        "db_seconds": counter.seconds,
        "seconds": seconds,
        "top": counter.by_shape,
    }


# --- 3. the raw-psycopg baseline --------------------------------------------------------------


def bench_baseline(args) -> dict:
    import psycopg
    from django.conf import settings as django_settings
    from django.utils import timezone

    from callcenter.models import BackgroundJob
    from callcenter.services import business_create
    from outbound.models import OutboundCallJob, OutboundCallRun

    business = business_create(name="Bench baseline")
    now = timezone.now()
    job = BackgroundJob.objects.create(business=business, job_type="enqueue_outbound_calls", status="running")
    run = OutboundCallRun.objects.create(business=business, background_job=job, status="running", started_at=now)
    count = args.statement_leads
    OutboundCallJob.objects.bulk_create(
        OutboundCallJob(business=business, run=run, phone=f"+97255{i:07d}", next_attempt_at=now) for i in range(count)
    )
    db = django_settings.DATABASES["default"]
    statements = 0
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"],
        dbname=db["NAME"],
        autocommit=True,
    ) as conn:

        def execute(sql, params=()):
            nonlocal statements
            statements += 1
            return conn.execute(sql, params)

        started = time.perf_counter()
        for index in range(count):
            with conn.transaction():
                statements += 2  # BEGIN, COMMIT
                execute("SELECT id FROM outbound_call_runs WHERE id = %s FOR UPDATE", (run.pk,))
                execute(
                    "SELECT status, slot, count(*) FROM outbound_call_jobs WHERE run_id = %s GROUP BY status, slot",
                    (run.pk,),
                )
                job_id = execute(
                    "SELECT id FROM outbound_call_jobs WHERE run_id = %s AND status = 'queued' "
                    "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                    (run.pk,),
                ).fetchone()[0]
                execute(
                    "UPDATE outbound_call_jobs SET status = 'dialing', slot = 1, claim_number = claim_number + 1, "
                    "claimed_at = now() WHERE id = %s",
                    (job_id,),
                )
            sid = f"CA{run.pk:08d}{index:024d}"
            execute(
                "UPDATE outbound_call_jobs SET dial_started_at = now(), attempts = attempts + 1 WHERE id = %s",
                (job_id,),
            )
            execute("UPDATE outbound_call_jobs SET call_sid = %s WHERE id = %s", (sid, job_id))
            for sequence, (status, slot) in enumerate((("calling", 1), ("completed", None))):
                with conn.transaction():
                    statements += 2
                    execute("SELECT id FROM outbound_call_jobs WHERE id = %s FOR UPDATE", (job_id,))
                    execute(
                        "INSERT INTO call_events (call_sid, kind, sequence_number, call_status, job_id, payload, "
                        "received_at) VALUES (%s, 'status', %s, %s, %s, '{}', now())",
                        (sid, sequence, status, job_id),
                    )
                    execute(
                        "UPDATE outbound_call_jobs SET status = %s, slot = %s, last_event_at = now() WHERE id = %s",
                        (status, slot, job_id),
                    )
        seconds = time.perf_counter() - started
    return {"calls": count, "statements": statements, "db_seconds": seconds, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--businesses", type=int, default=20)
    parser.add_argument("--leads", type=int, default=50, help="leads per business (one run each)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--q-workers", type=int, default=2)
    parser.add_argument("--time-scale", type=float, default=200.0)
    parser.add_argument("--statement-leads", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the per-call comparison")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--conn-max-age", type=int, default=60, help="DATABASE_CONN_MAX_AGE of every process")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--top", type=int, default=0, help="also print the N statements that took longest")
    args = parser.parse_args()

    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        sys.exit("DATABASE_URL must name a PostgreSQL server")
    url = scratch_url(base_url)
    recreate_database(url)
    var_dir = ROOT / "var" / "bench"
    var_dir.mkdir(parents=True, exist_ok=True)
    from twilio_sim import SIM_FROM_NUMBER, SimConfig, TwilioSimulator

    sim = TwilioSimulator(SimConfig(time_scale=args.time_scale, seed=42)).start()
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "callcenter.settings",
            # The web server refuses the development key with debug off; this run's own key.
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
            "CALLCENTER_VAR_DIR": str(var_dir),
            "TWILIO_API_BASE_URL": sim.base_url,
            "TWILIO_ACCOUNT_SID": sim.config.account_sid,
            "TWILIO_AUTH_TOKEN": sim.config.auth_token,
            "TWILIO_FROM_NUMBER": SIM_FROM_NUMBER,
            # Twilio's default account limit is 1 call/s; the simulator has none, so neither do we here.
            "TWILIO_CALLS_PER_SECOND": "0",
            "OUTBOUND_DISPATCH": "queue",
            "OUTBOUND_STUCK_CALL_SECONDS": "10",
            "OUTBOUND_CALLING_HOURS_START": "",
            "OUTBOUND_CALLING_HOURS_END": "",
            "LOG_LEVEL": "ERROR",
            # Persistent connections, as a production deployment runs: a new PostgreSQL backend
            # per webhook costs more than the webhook's own work.
            "DATABASE_CONN_MAX_AGE": str(args.conn_max_age),
        }
    )
    import django

    django.setup()
    try:
        system = bench_system(args, sim)
        # Alternating rounds, best of each: this machine is shared, and a slow moment should
        # not land on one side only.
        ours_rounds, baseline_rounds = [], []
        for _round in range(args.rounds):
            ours_rounds.append(bench_statements(args))
            baseline_rounds.append(bench_baseline(args))
        ours = min(ours_rounds, key=lambda result: result["seconds"] / result["calls"])
        baseline = min(baseline_rounds, key=lambda result: result["seconds"] / result["calls"])
    finally:
        sim.stop()
    print(
        f"system: {system['runs']} runs x {args.leads} leads, {args.web_workers} web x {args.threads} threads, "
        f"{args.q_workers} q workers, sim time scale {args.time_scale:g}"
    )
    rate = system["calls_per_second"]
    print(f"  calls placed          {system['calls']} in {system['elapsed']:.1f} s = {rate:.1f} calls/s")
    print(f"  run statuses          {system['run_statuses']}")
    print(f"  status webhooks       {system['webhooks']}: p50 {system['p50_ms']:.1f} ms, p99 {system['p99_ms']:.1f} ms")
    print(f"  cap violations        {system['violations']} (runs whose sim timelines overlapped > concurrency)")
    our_statements = ours["statements"] / ours["calls"]
    our_ms = 1000 * ours["seconds"] / ours["calls"]
    our_db_ms = 1000 * ours["db_seconds"] / ours["calls"]
    base_statements = baseline["statements"] / baseline["calls"]
    base_ms = 1000 * baseline["seconds"] / baseline["calls"]
    print(
        f"per call, single-threaded, best of {args.rounds} alternating rounds "
        f"(runs of {args.statement_leads} leads; claim, dial, 2 callbacks, release):"
    )
    print(
        f"  ours                  {our_ms:.2f} ms ({our_db_ms:.2f} ms in SQL statements), "
        f"{our_statements:.1f} statements"
    )
    print(f"  raw-psycopg baseline  {base_ms:.2f} ms, {base_statements:.1f} statements")
    print(
        f"  ratio ours/baseline   time {our_ms / base_ms:.2f}x (target <= 3x), "
        f"statements {our_statements / base_statements:.2f}x"
    )
    for shape, seconds in ours["top"].most_common(args.top):
        print(f"  {1000 * seconds / max(ours['calls'], 1):7.2f} ms/call  {shape}")


if __name__ == "__main__":
    main()
