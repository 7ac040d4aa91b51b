"""Outbound runs as production runs them: web + the qcluster's own scheduler + the simulator
with its faults on, on this machine.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_outbound .venv/bin/python bench/outbound_calls.py
    (defaults: --businesses 20 --leads 50 --repeat 1; the status-webhook figure at 10,000 calls is
     --businesses 100 --leads 100 --only system)

Creates a scratch database `<DATABASE_URL's database>_bench` (migrated, schedules registered
as `manage.py setup_schedules` does), then:

1. system: nginx with the shipped site (deploy/nginx/, TLS) in front of gunicorn with
   deploy/gunicorn.conf.py on a unix socket (webhooks) + a django-q2 cluster on its own Redis
   (fills, wake-ups, its own scheduler running the reconciler and the safety tick: nothing is
   ticked by hand) + the simulator, calling back through nginx, with dropped, duplicated and
   reordered callbacks, 1% HTTP 5xx and bursts of 429 (every 5 s, 0.5 s during which
   calls.create is refused), retries on (busy / no-answer dialed again). One run per business,
   all started at once; no account dial limit unless --calls-per-second sets one; dials spaced
   while the host's CPU pressure is above OUTBOUND_DIAL_CPU_PRESSURE_LIMIT, as in production
   (--cpu-pressure-limit sets it, 0 turns it off). Prints
   calls/s, slot utilisation, the status webhook's latency p50/p99 twice: as gunicorn handles
   it (its own request time of /webhooks/twilio/call-status) and as nginx answers it (what
   Twilio waits for, including the wait for a free gunicorn thread), and cap violations (runs
   whose calls overlapped more than their concurrency in the simulator's timelines; must be 0).
   Slot utilisation = slot-seconds in use / (concurrency x seconds during which the run had a
   due lead waiting), sampled every 0.1 s: "held" counts the calls the database holds a slot
   for, "live" the calls alive in the simulator at that instant.
2. pacing: the same system with TWILIO_CALLS_PER_SECOND=1 and no faults: dials per second
   between the first and the last of --pacing-calls calls.create in the simulator's timelines.
3. per call, single-threaded through our services (calls.create answered locally, no
   network, fills inline): time and SQL statements per call of a whole run.
4. baseline: a minimal raw-psycopg loop doing the same state changes per call on the same
   tables (claim under the run lock, store the SID, two callbacks with an event row each,
   release), single-threaded. Ratio 3 / 4 is printed.

With --repeat N every figure is the median of N rounds, with its range.
"""

import argparse
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
# The simulator's faults during the system phase.
FAULTS = {
    "callback_drop_rate": 0.02,
    "callback_duplicate_rate": 0.02,
    "callback_reorder_rate": 0.02,
    "server_error_rate": 0.01,
}
OUTCOMES = {"completed": 8, "busy": 1, "no-answer": 1}
BURST_EVERY_SECONDS = 5.0
BURST_SECONDS = 0.5
WEBHOOK_PATH = "/webhooks/twilio/call-status"


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
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PYTHON, "manage.py", "setup_schedules"], cwd=ROOT, env=env, check=True, capture_output=True)


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


def own_connection():
    """A psycopg connection of its own (autocommit) to the database Django uses."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"],
        dbname=db["NAME"],
        autocommit=True,
    )


def make_run_leads(business, count: int, prefix: str) -> set[str]:
    from leads.models import Lead

    Lead.objects.bulk_create(
        Lead(business=business, phone=f"{prefix}{index:05d}", name=f"Bench {index}") for index in range(count)
    )
    return {f"{prefix}{index:05d}" for index in range(count)}


# --- 1. and 2. the system -------------------------------------------------------------------


@contextmanager
def system_processes(args, extra_env: dict):
    """What production runs on an app host: nginx with the shipped site (deploy/nginx/, TLS)
    in front of gunicorn with the shipped settings on a unix socket, and one qcluster (with its
    scheduler). The simulator calls back through nginx, as Twilio does."""
    from django.conf import settings

    from tests.plugins.front import FrontLayout, Nginx, render_layout_site

    workdir = Path(tempfile.mkdtemp(prefix="bench-outbound-"))
    layout = FrontLayout.create(workdir)
    socket = workdir / "gunicorn.sock"
    access_log = workdir / "gunicorn-access.log"
    env = {
        **os.environ,
        **extra_env,
        "PUBLIC_BASE_URL": layout.url,
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "DJANGO_NUM_PROXIES": "1",
        "Q_WORKERS": str(args.q_workers),
        # The shipped gunicorn settings (deploy/gunicorn.conf.py) on the socket nginx proxies
        # to, with an access log of path, status and handling time in microseconds.
        "GUNICORN_BIND": f"unix:{socket}",
        "WEB_WORKERS": str(args.web_workers),
        "WEB_THREADS": str(args.threads),
        "GUNICORN_ACCESS_LOG": str(access_log),
    }
    web = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "--config",
            str(ROOT / "deploy/gunicorn.conf.py"),
            "--access-logformat",
            "%(U)s %(s)s %(D)s",
            "callcenter.wsgi",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    nginx_dir, site = render_layout_site(layout, upstream=f"unix:{socket}")
    # The site's own access log, with the time nginx took to answer each request: what the
    # caller (Twilio) waits for, queueing in front of gunicorn included.
    front_log = nginx_dir / "callcenter.access.log"
    site_text = site.read_text()
    if f"access_log {front_log};" not in site_text:
        raise RuntimeError("the shipped nginx site no longer logs to callcenter.access.log: the benchmark reads it")
    site.write_text(site_text.replace(f"access_log {front_log};", f"access_log {front_log} timing;"))
    nginx = Nginx(
        directory=nginx_dir, site=site, extra_http="log_format timing '$uri $status $request_time';", workers=1
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
    # The simulator's callbacks trust this run's certificate (it reads the variable, as requests does).
    os.environ["REQUESTS_CA_BUNDLE"] = str(layout.cert)
    try:
        time.sleep(3)  # gunicorn and the cluster start
        yield SystemHandle(
            access_log=access_log,
            front_log=front_log,
            cpu=CpuLedger(web=web.pid, workers=worker.pid, front=nginx.process.pid),
        )
    finally:
        stop(worker)
        stop(web)
        nginx.stop()
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
        shutil.rmtree(workdir, ignore_errors=True)


class CpuLedger:
    """CPU seconds spent by each part of the system between start() and stop(): where a
    saturated machine's two cores went (the simulator and this benchmark's samplers are
    "bench"; whatever else ran on the machine meanwhile is "other")."""

    def __init__(self, *, web: int, workers: int, front: int):
        self.roots = {"front (nginx)": front, "web (gunicorn)": web, "workers (qcluster)": workers}
        self.started: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    @staticmethod
    def _tree_seconds(pid: int) -> float:
        import psutil

        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            # A reaped child's time (a recycled worker) is added to its parent's children_*.
            total += times.user + times.system + times.children_user + times.children_system
        return total

    def _snapshot(self) -> dict[str, float]:
        import psutil

        seconds = {name: self._tree_seconds(pid) for name, pid in self.roots.items()}
        postgres = 0.0
        for process in psutil.process_iter(["name", "cpu_times"]):
            times = process.info["cpu_times"]
            if process.info["name"] == "postgres" and times is not None:
                # The postmaster's children_* hold the backends that have exited (closed connections).
                postgres += times.user + times.system + times.children_user + times.children_system
        seconds["postgresql"] = postgres
        own = psutil.Process().cpu_times()
        seconds["bench (simulator, samplers)"] = own.user + own.system
        machine = psutil.cpu_times()
        seconds["machine"] = machine.user + machine.system + machine.nice + getattr(machine, "softirq", 0.0)
        return seconds

    def start(self) -> None:
        self.started = self._snapshot()

    def stop(self) -> None:
        ended = self._snapshot()
        self.spent = {name: ended[name] - self.started.get(name, 0.0) for name in ended}
        self.spent["other"] = self.spent.pop("machine") - sum(self.spent.values())

    def line(self, calls: int) -> str:
        return ", ".join(f"{name} {1000 * seconds / max(calls, 1):.1f}" for name, seconds in self.spent.items())


class SystemHandle:
    def __init__(self, *, access_log: Path, front_log: Path, cpu: CpuLedger):
        self.access_log = access_log
        self.front_log = front_log
        self.cpu = cpu


def start_runs(args, *, businesses: int, leads: int, tag: str):
    from callcenter.services import business_create
    from outbound import services

    phones_by_business = {}
    created = [business_create(name=f"Bench {tag} {index}") for index in range(businesses)]
    for index, business in enumerate(created):
        phones_by_business[business.pk] = make_run_leads(business, leads, prefix=f"+9725{tag}{index:03d}")
    runs = [services.outbound_run_start(business=business, selection={"filter": {}}) for business in created]
    return runs, phones_by_business


class SlotSampler(threading.Thread):
    """Every 0.1 s: per run, the calls holding a slot and whether a due lead is waiting."""

    def __init__(self, run_ids: list[int]):
        super().__init__(daemon=True)
        self.run_ids = run_ids
        self.samples: list[tuple[float, dict]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with own_connection() as conn:
            while not self.halt.wait(0.1):
                # Two index probes per run (the active-slot and due-call partial indexes), not a
                # count over every queued call: the probe must not load the system it measures.
                rows = conn.execute(
                    "SELECT r.id,"
                    " (SELECT count(*) FROM outbound_call_jobs j"
                    "  WHERE j.run_id = r.id AND j.status IN ('dialing', 'calling')),"
                    " EXISTS (SELECT 1 FROM outbound_call_jobs j"
                    "  WHERE j.run_id = r.id AND j.status = 'queued' AND j.next_attempt_at <= now())"
                    " FROM outbound_call_runs r WHERE r.id = ANY(%s) AND r.status = 'running'",
                    (self.run_ids,),
                ).fetchall()
                self.samples.append((time.time(), {run_id: (held, due) for run_id, held, due in rows}))


def utilisation(
    sampler: SlotSampler, runs, phones_by_business: dict, sim_calls: list[dict], skip: list[tuple[float, float]] = ()
) -> dict:
    """Slot use while a due lead waited: held (database) and live (simulator) calls per slot.
    Samples inside the `skip` windows are left out."""
    intervals = {}
    for run in runs:
        phones = phones_by_business[run.business_id]
        intervals[run.pk] = [
            (call["created_at"], call["ended_at"] or float("inf")) for call in sim_calls if call["to"] in phones
        ]
    concurrency = {run.pk: run.concurrency for run in runs}
    held = live = capacity = 0
    for moment, per_run in sampler.samples:
        if any(start <= moment < end for start, end in skip):
            continue
        for run_id, (held_now, due_now) in per_run.items():
            if not due_now:
                continue
            capacity += concurrency[run_id]
            held += min(held_now, concurrency[run_id])
            live += min(sum(1 for start, end in intervals[run_id] if start <= moment < end), concurrency[run_id])
    return {
        "held": held / capacity if capacity else float("nan"),
        "live": live / capacity if capacity else float("nan"),
    }


class RateLimitBursts(threading.Thread):
    """Twilio refusing calls.create with 429 / 20429 for BURST_SECONDS every BURST_EVERY_SECONDS."""

    def __init__(self, sim):
        super().__init__(daemon=True)
        self.sim = sim
        self.halt = threading.Event()
        self.windows: list[tuple[float, float]] = []

    def run(self) -> None:
        while not self.halt.wait(BURST_EVERY_SECONDS):
            began = time.time()
            self.sim.configure(calls_per_second=0.01, rate_limit_mode="reject")
            time.sleep(BURST_SECONDS)
            self.sim.configure(calls_per_second=None, rate_limit_mode="queue")
            self.windows.append((began, time.time()))


def webhook_milliseconds(log: Path, *, unit_ms: float) -> list[float]:
    """The status webhook's times in an access log of "path status time" lines, in ms."""
    rows = (line.split() for line in log.read_text().splitlines())
    return [float(value) * unit_ms for path, _status, value in rows if path == WEBHOOK_PATH]


def pressure_spacing(args) -> str:
    from django.conf import settings

    from callcenter.ops.cpu_pressure import CpuPressure

    limit = settings.OUTBOUND_DIAL_CPU_PRESSURE_LIMIT if args.cpu_pressure_limit is None else args.cpu_pressure_limit
    if limit <= 0:
        return "dials never spaced for CPU pressure (OUTBOUND_DIAL_CPU_PRESSURE_LIMIT=0)"
    if CpuPressure().window() is None:
        return "dials never spaced: this host reports no CPU pressure (/proc/pressure/cpu)"
    return f"dials spaced while the host's CPU pressure is above {limit:g} (OUTBOUND_DIAL_CPU_PRESSURE_LIMIT)"


def bench_system(args, sim) -> dict:
    from outbound.models import OutboundCallRun
    from twilio_sim import max_overlap

    sim.reset()
    sim.configure(**FAULTS, outcomes=OUTCOMES)
    # An account limit when asked for (--calls-per-second): dials then wait for the pacer.
    account_limit = {"TWILIO_CALLS_PER_SECOND": str(args.calls_per_second)} if args.calls_per_second else {}
    if args.cpu_pressure_limit is not None:
        account_limit["OUTBOUND_DIAL_CPU_PRESSURE_LIMIT"] = str(args.cpu_pressure_limit)
    with system_processes(args, account_limit) as system:
        runs, phones_by_business = start_runs(args, businesses=args.businesses, leads=args.leads, tag="1")
        system.cpu.start()
        started = time.monotonic()
        sampler = SlotSampler([run.pk for run in runs])
        bursts = RateLimitBursts(sim)
        sampler.start()
        bursts.start()
        deadline = started + args.timeout
        while time.monotonic() < deadline:
            if not OutboundCallRun.objects.filter(
                pk__in=[run.pk for run in runs], status__in=OutboundCallRun.ACTIVE_STATUSES
            ).exists():
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        system.cpu.stop()
        sampler.halt.set()
        bursts.halt.set()
        sampler.join()
        bursts.join()
        # Read before the context ends: its directory goes with it.
        latencies = webhook_milliseconds(system.access_log, unit_ms=0.001)  # handled in gunicorn (µs)
        front_latencies = webhook_milliseconds(system.front_log, unit_ms=1000)  # answered by nginx (s)
    sim.configure(**dict.fromkeys(FAULTS, 0.0), calls_per_second=None, rate_limit_mode="queue")
    sim_calls = sim.calls()
    violations = 0
    for run in runs:
        run.refresh_from_db()
        if max_overlap(sim_calls, to_numbers=phones_by_business[run.business_id]) > run.concurrency:
            violations += 1
    statuses = Counter(run.status for run in runs)
    durations = sorted((run.finished_at - run.started_at).total_seconds() for run in runs if run.finished_at)
    use = utilisation(sampler, runs, phones_by_business, sim_calls)
    outside_bursts = utilisation(sampler, runs, phones_by_business, sim_calls, skip=bursts.windows)
    return {
        "runs": len(runs),
        "calls": len(sim_calls),
        "elapsed": elapsed,
        "calls_per_second": len(sim_calls) / elapsed,
        "webhooks": len(front_latencies),
        "front_p50_ms": percentile(front_latencies, 0.5),
        "front_p99_ms": percentile(front_latencies, 0.99),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "violations": violations,
        "run_statuses": dict(statuses),
        "longest_run": durations[-1] if durations else float("nan"),
        "utilisation_held": use["held"],
        "utilisation_live": use["live"],
        "utilisation_held_outside_bursts": outside_bursts["held"],
        "utilisation_live_outside_bursts": outside_bursts["live"],
        "bursts": len(bursts.windows),
        "cpu_ms_per_call": system.cpu.line(len(sim_calls)),
    }


def bench_pacing(args, sim) -> dict:
    """Dial pace with the account limit at 1 call/s (no faults: every create is accepted)."""
    from outbound import services

    sim.reset()
    with system_processes(args, {"TWILIO_CALLS_PER_SECOND": "1"}):
        runs, _phones = start_runs(args, businesses=3, leads=args.pacing_calls, tag="2")
        numbers = set().union(*_phones.values())
        deadline = time.monotonic() + args.pacing_calls * 2 + 30
        while time.monotonic() < deadline:
            if sum(1 for call in sim.calls() if call["to"] in numbers) >= args.pacing_calls:
                break
            time.sleep(0.5)
        for run in runs:
            services.outbound_run_cancel(business=run.business, run_id=run.pk)
    created = sorted(call["created_at"] for call in sim.calls() if call["to"] in numbers)[: args.pacing_calls]
    pace = (len(created) - 1) / (created[-1] - created[0]) if len(created) > 1 else float("nan")
    return {"calls": len(created), "pace": pace}


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
    statements = 0
    with own_connection() as conn:

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


def spread(values: list[float], fmt: str = ".2f") -> str:
    """The median, and the range when there is more than one value."""
    values = [v for v in values if v == v]  # no NaN
    if not values:
        return "n/a"
    median = format(statistics.median(values), fmt)
    if len(values) == 1:
        return median
    return f"{median} (range {format(min(values), fmt)}-{format(max(values), fmt)}, n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--businesses", type=int, default=20)
    parser.add_argument("--leads", type=int, default=50, help="leads per business (one run each)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--q-workers", type=int, default=2)
    parser.add_argument(
        "--time-scale",
        type=float,
        default=10.0,
        help="simulated seconds per real second; calls last ~2 s at 10x (production calls last minutes)",
    )
    parser.add_argument("--statement-leads", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the per-call comparison")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every phase; medians are printed")
    parser.add_argument("--only", choices=["system", "pacing", "per-call"], action="append", default=None)
    parser.add_argument("--pacing-calls", type=int, default=21)
    parser.add_argument(
        "--calls-per-second",
        type=float,
        default=0,
        help="system phase: the account's dial limit (TWILIO_CALLS_PER_SECOND); 0, the default: none, the runs dial "
        "as fast as the machine places calls",
    )
    parser.add_argument(
        "--cpu-pressure-limit",
        type=float,
        default=None,
        help="system phase: OUTBOUND_DIAL_CPU_PRESSURE_LIMIT (dials spaced while the host's CPU pressure is above "
        "it); the default: the setting's own default; 0: dials never spaced",
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--conn-max-age", type=int, default=60, help="DATABASE_CONN_MAX_AGE of every process")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--top", type=int, default=0, help="also print the N statements that took longest")
    args = parser.parse_args()
    phases = args.only or ["system", "pacing", "per-call"]

    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        sys.exit("DATABASE_URL must name a PostgreSQL server")
    url = scratch_url(base_url)
    recreate_database(url)
    var_dir = ROOT / "var" / "bench"
    var_dir.mkdir(parents=True, exist_ok=True)
    from twilio_sim import SIM_FROM_NUMBER, SimConfig, TwilioSimulator

    # The broker production runs: Redis (our own instance on a free port, nothing on disk).
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    sim = TwilioSimulator(
        SimConfig(
            time_scale=args.time_scale, seed=42, ring_delay_seconds=1, answer_delay_seconds=(1, 3), talk_seconds=(5, 30)
        )
    ).start()
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
            # The simulator has no account limit unless a burst of 429 is on; the pacing phase sets 1.
            "TWILIO_CALLS_PER_SECOND": "0",
            "OUTBOUND_DISPATCH": "queue",
            # Retries on: busy / no-answer dialed once more, a (scaled) second later.
            "OUTBOUND_MAX_ATTEMPTS": "2",
            "OUTBOUND_RETRY_DELAY_SECONDS": "1",
            "OUTBOUND_DIAL_BACKOFF_SECONDS": "0.5",
            "OUTBOUND_DIAL_BACKOFF_MAX_SECONDS": "4",
            # Calls last about a second here: a silent call is looked at after 3 s, not 3 minutes.
            "OUTBOUND_STUCK_CALL_SECONDS": "3",
            # A dial is taken for lost only once its calls.create is certainly over (2 x 2 s timeouts).
            "TWILIO_TIMEOUT_SECONDS": "2",
            "OUTBOUND_LOST_DIAL_SECONDS": "5",
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
    systems, pacings, ratios, ours_ms, base_ms, statement_ratios = [], [], [], [], [], []
    try:
        for _repeat in range(args.repeat):
            if "system" in phases:
                systems.append(bench_system(args, sim))
                print(
                    "  system round:", {k: round(v, 3) if isinstance(v, float) else v for k, v in systems[-1].items()}
                )
            if "pacing" in phases:
                pacings.append(bench_pacing(args, sim))
                print("  pacing round:", pacings[-1])
            if "per-call" in phases:
                # Alternating rounds, best of each: this machine is shared, and a slow moment should
                # not land on one side only.
                ours_rounds, baseline_rounds = [], []
                for _round in range(args.rounds):
                    ours_rounds.append(bench_statements(args))
                    baseline_rounds.append(bench_baseline(args))
                ours = min(ours_rounds, key=lambda result: result["seconds"] / result["calls"])
                baseline = min(baseline_rounds, key=lambda result: result["seconds"] / result["calls"])
                ours_ms.append(1000 * ours["seconds"] / ours["calls"])
                base_ms.append(1000 * baseline["seconds"] / baseline["calls"])
                ratios.append(ours_ms[-1] / base_ms[-1])
                statement_ratios.append(
                    (ours["statements"] / ours["calls"]) / (baseline["statements"] / baseline["calls"])
                )
                print(f"  per-call round: ours {ours_ms[-1]:.2f} ms, baseline {base_ms[-1]:.2f} ms")
                for shape, seconds in ours["top"].most_common(args.top):
                    print(f"  {1000 * seconds / max(ours['calls'], 1):7.2f} ms/call  {shape}")
    finally:
        sim.stop()
        stop(redis)
    print(f"medians of {args.repeat} round(s)")
    if systems:
        print(
            f"system (production cadence: qcluster scheduler, no manual tick; faults {FAULTS}, "
            f"429 bursts {BURST_SECONDS} s every {BURST_EVERY_SECONDS:g} s, retries on): {args.businesses} runs x "
            f"{args.leads} leads, {args.web_workers} web x {args.threads} threads, {args.q_workers} q workers "
            f"{f'(dials limited to {args.calls_per_second:g}/s) ' if args.calls_per_second else ''}"
            f"on Redis, sim time scale {args.time_scale:g}, {pressure_spacing(args)}"
        )
        print(f"  calls placed          {spread([s['calls'] for s in systems], '.0f')}")
        print(f"  calls/s               {spread([s['calls_per_second'] for s in systems], '.1f')}")
        print(f"  run statuses          {[s['run_statuses'] for s in systems]}")
        print(f"  longest run           {spread([s['longest_run'] for s in systems], '.1f')} s")
        print(
            f"  slot utilisation      held {spread([s['utilisation_held'] for s in systems], '.3f')}, "
            f"live {spread([s['utilisation_live'] for s in systems], '.3f')} (target >= 0.95)"
        )
        print(
            "  outside 429 bursts    held "
            f"{spread([s['utilisation_held_outside_bursts'] for s in systems], '.3f')}, "
            f"live {spread([s['utilisation_live_outside_bursts'] for s in systems], '.3f')}"
        )
        print(
            f"  status webhooks       {spread([s['webhooks'] for s in systems], '.0f')}, handled in gunicorn: "
            f"p50 {spread([s['p50_ms'] for s in systems], '.1f')} ms, "
            f"p99 {spread([s['p99_ms'] for s in systems], '.1f')} ms (target <= 50 ms at 10,000 calls)"
        )
        print(
            "  answered by nginx     (what Twilio waits for, queueing in front of gunicorn included): "
            f"p50 {spread([s['front_p50_ms'] for s in systems], '.1f')} ms, "
            f"p99 {spread([s['front_p99_ms'] for s in systems], '.1f')} ms"
        )
        for system in systems:
            print(f"  CPU ms per call       {system['cpu_ms_per_call']}")
        print(
            f"  cap violations        {sum(s['violations'] for s in systems)} in all rounds "
            "(runs whose sim timelines overlapped > concurrency)"
        )
    if pacings:
        print(
            f"pacing (TWILIO_CALLS_PER_SECOND=1, {args.pacing_calls} calls): "
            f"{spread([p['pace'] for p in pacings], '.3f')} calls/s (target 1.0 +- 5%)"
        )
    if ratios:
        print(
            f"per call, single-threaded, best of {args.rounds} alternating rounds "
            f"(runs of {args.statement_leads} leads; claim, dial, 2 callbacks, release; fills inline):"
        )
        print(f"  ours                  {spread(ours_ms)} ms")
        print(f"  raw-psycopg baseline  {spread(base_ms)} ms")
        print(
            f"  ratio ours/baseline   time {spread(ratios)}x (target <= 1.5x), statements {spread(statement_ratios)}x"
        )


if __name__ == "__main__":
    main()
