"""The multi-host run: the project's own test hosts in network namespaces, with faults.

    scripts/cluster-test [--runs 20] [--leads 50] [--keep-logs DIR]

Hosts (one network namespace each, joined by a bridge in a namespace of their own, so the
machine's own network and services are never touched):

    db      its own PostgreSQL (initdb into a temporary directory) and Redis (nothing on disk)
    app1    gunicorn + a qcluster on the Redis broker
    app2    gunicorn + a qcluster on the Redis broker
    twilio  the simulator (manage.py twilio_sim), callback faults on
    ctl     the driver: starts the runs through the REST API, copies queued tasks in Redis
            (a broker delivering a task twice), then checks the invariants

While the runs go on, faults are injected into these instances only: SIGKILL of app1's
qcluster (then a restart), SIGKILL of one gunicorn worker of app2, a PostgreSQL restart
(fast shutdown), a Redis restart (the queued tasks are lost) and app2's link down for 10 s.

Then it asserts: 0 cap violations in the simulator's timelines, no number in two calls at
once, no lead dialed more often than its attempts, every run finished within the bound, no
call left active, and every call whose final callback was lost resolved by the reconciler.
It prints how many tasks were executed more than once. Namespaces and processes are
removed on the way out, whatever happened. Exit status 0 when every check holds.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
SUBNET = "10.213.0"
ADDRESSES = {"db": 10, "app1": 11, "app2": 12, "twilio": 13, "ctl": 14}
PG_PORT, REDIS_PORT, WEB_PORT, SIM_PORT = 5432, 6379, 8000, 8010
SECRET_KEY = "cluster-test-shared-secret-key-" + "x" * 32
SIM_ACCOUNT_SID = "AC" + "5" * 32
SIM_AUTH_TOKEN = "simulator-auth-token-0000000000000"  # noqa: S105 - the simulator's public token
# Every run must have finished this many seconds after it was started.
RUN_BOUND_SECONDS = 150
# The whole test stops waiting for runs after this long.
DRIVE_TIMEOUT_SECONDS = 200
MAX_ATTEMPTS = 2
SIM_CONFIG = {
    "seed": 17,
    "outcomes": {"completed": 7, "busy": 2, "no-answer": 1},
    "ring_delay_seconds": 1,
    "answer_delay_seconds": [1, 3],
    "talk_seconds": [8, 20],
    "callback_drop_rate": 0.03,
    "callback_duplicate_rate": 0.05,
    "callback_reorder_rate": 0.05,
    "server_error_rate": 0.01,
    "callback_timeout_seconds": 5,
}
SIM_TIME_SCALE = 10


def address(host: str) -> str:
    return f"{SUBNET}.{ADDRESSES[host]}"


class Log:
    def __init__(self):
        self.started = time.monotonic()
        self.t0: float | None = None

    def __call__(self, message: str) -> None:
        clock = time.strftime("%H:%M:%S", time.gmtime())
        relative = f" +{time.monotonic() - self.t0:5.1f}s" if self.t0 is not None else ""
        print(f"[cluster-test {clock}{relative}] {message}", flush=True)


log = Log()


def sh(*command: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=check, capture_output=True, text=True, **kwargs)


# --- the cluster ------------------------------------------------------------------------


class Cluster:
    def __init__(self, work: Path, tag: str, repo: Path):
        self.work = work
        self.tag = tag
        self.repo = repo
        self.namespaces = {host: f"cct{tag}-{host}" for host in [*ADDRESSES, "net"]}
        self.processes: dict[str, subprocess.Popen] = {}
        self.pg_bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        self.pg_data = work / "pgdata"

    # network
    def build_network(self) -> None:
        net = self.namespaces["net"]
        for namespace in self.namespaces.values():
            sh("ip", "netns", "add", namespace)
            sh("ip", "-n", namespace, "link", "set", "lo", "up")
        sh("ip", "-n", net, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", net, "link", "set", "br0", "up")
        for host in ADDRESSES:
            namespace = self.namespaces[host]
            # Created straight inside the two namespaces: no name ever exists on the machine itself.
            sh(
                "ip",
                "link",
                "add",
                "eth0",
                "netns",
                namespace,
                "type",
                "veth",
                "peer",
                "name",
                f"to-{host}",
                "netns",
                net,
            )
            sh("ip", "-n", net, "link", "set", f"to-{host}", "master", "br0", "up")
            sh("ip", "-n", namespace, "addr", "add", f"{address(host)}/24", "dev", "eth0")
            sh("ip", "-n", namespace, "link", "set", "eth0", "up")

    def link(self, host: str, up: bool) -> None:
        sh("ip", "-n", self.namespaces["net"], "link", "set", f"to-{host}", "up" if up else "down")

    # processes
    def spawn(self, name: str, host: str, command: list[str], env: dict | None = None) -> subprocess.Popen:
        logfile = open(self.work / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.namespaces[host], *command],
            cwd=self.repo,
            env=env or os.environ.copy(),
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logfile.close()
        self.processes[name] = process
        return process

    def run_in(self, host: str, command: list[str], env: dict, timeout: float = 120) -> None:
        result = subprocess.run(
            ["ip", "netns", "exec", self.namespaces[host], *command],
            cwd=self.repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode:
            raise RuntimeError(f"{' '.join(command)} failed on {host}:\n{result.stdout}\n{result.stderr}")

    def as_postgres(self, *command: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command]

    def start_db(self) -> None:
        self.pg_data.mkdir()
        shutil.chown(self.work, "postgres")
        shutil.chown(self.pg_data, "postgres")
        sh(*self.as_postgres(f"{self.pg_bin}/initdb", "-D", str(self.pg_data), "-U", "postgres", "-A", "trust"))
        with open(self.pg_data / "postgresql.conf", "a") as conf:
            conf.write(
                f"listen_addresses = '{address('db')}'\nport = {PG_PORT}\nunix_socket_directories = '{self.pg_data}'\n"
                "max_connections = 200\nfsync = off\nfull_page_writes = off\nshared_buffers = 64MB\n"
            )
        with open(self.pg_data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {SUBNET}.0/24 trust\n")
        self.pg_ctl("start")
        self.start_redis()

    def pg_ctl(self, action: str, *extra: str) -> None:
        command = self.as_postgres(
            f"{self.pg_bin}/pg_ctl",
            "-D",
            str(self.pg_data),
            "-l",
            str(self.pg_data / "server.log"),
            "-w",
            *extra,
            action,
        )
        sh("ip", "netns", "exec", self.namespaces["db"], *command)

    def start_redis(self) -> None:
        self.spawn(
            "redis",
            "db",
            [
                "redis-server",
                "--bind",
                address("db"),
                "--port",
                str(REDIS_PORT),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
        )

    def app_env(self, host: str) -> dict:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "DJANGO_SETTINGS_MODULE": "callcenter.settings",
            "DATABASE_URL": f"postgres://postgres@{address('db')}:{PG_PORT}/callcenter",
            "DATABASE_CONN_MAX_AGE": "60",
            "REDIS_URL": f"redis://{address('db')}:{REDIS_PORT}/0",
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": ",".join(address(h) for h in ("app1", "app2")),
            "PUBLIC_BASE_URL": f"http://{address(host)}:{WEB_PORT}" if host.startswith("app") else "",
            "TWILIO_ACCOUNT_SID": SIM_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": SIM_AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": "+15005550006",
            "TWILIO_API_BASE_URL": f"http://{address('twilio')}:{SIM_PORT}",
            "TWILIO_TIMEOUT_SECONDS": "5",
            "TWILIO_CALLS_PER_SECOND": "0",
            "CALLCENTER_VAR_DIR": str(self.work / f"var-{host}"),
            "Q_WORKERS": "2",
            "LOG_LEVEL": "INFO",
            "OUTBOUND_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "OUTBOUND_RETRY_DELAY_SECONDS": "2",
            "OUTBOUND_DIAL_BACKOFF_SECONDS": "0.5",
            "OUTBOUND_DIAL_BACKOFF_MAX_SECONDS": "4",
            "OUTBOUND_STUCK_CALL_SECONDS": "6",
            # Longer than a calls.create can be in flight (connect + read timeouts): a dial is
            # only taken for lost once its request is certainly over.
            "OUTBOUND_LOST_DIAL_SECONDS": "12",
            "OUTBOUND_LOST_CLAIM_SECONDS": "10",
            "OUTBOUND_CALLING_HOURS_START": "",
            "OUTBOUND_CALLING_HOURS_END": "",
        }

    def start_sim(self) -> None:
        env = {**self.app_env("twilio"), "TWILIO_SIMULATOR": "1"}
        command = [PYTHON, "manage.py", "twilio_sim", "--host", address("twilio"), "--port", str(SIM_PORT)]
        command += ["--time-scale", str(SIM_TIME_SCALE), "--config", json.dumps(SIM_CONFIG)]
        self.spawn("twilio", "twilio", command, env)

    def start_web(self, host: str) -> None:
        command = [str(self.repo / ".venv/bin/gunicorn"), "callcenter.wsgi", "--bind", f"{address(host)}:{WEB_PORT}"]
        command += ["--workers", "2", "--threads", "4", "--timeout", "30", "--graceful-timeout", "5"]
        self.spawn(f"web-{host}", host, command, self.app_env(host))

    def start_qcluster(self, host: str) -> None:
        self.spawn(f"qcluster-{host}", host, [PYTHON, "manage.py", "qcluster"], self.app_env(host))

    def kill_group(self, name: str) -> None:
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def gunicorn_worker(self, host: str) -> int:
        master = self.processes[f"web-{host}"].pid
        children = sh("pgrep", "-P", str(master), check=False).stdout.split()
        if not children:
            raise RuntimeError(f"no gunicorn worker under {master} on {host}")
        return int(children[0])

    def teardown(self) -> None:
        for namespace in self.namespaces.values():
            for pid in sh("ip", "netns", "pids", namespace, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        for namespace in self.namespaces.values():
            sh("ip", "netns", "del", namespace, check=False)


def wait_port(cluster: Cluster, host: str, target: str, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    probe = f"import socket; socket.create_connection(('{target}', {port}), timeout=1).close()"
    while time.monotonic() < deadline:
        result = subprocess.run(
            ["ip", "netns", "exec", cluster.namespaces[host], sys.executable, "-c", probe], capture_output=True
        )
        if result.returncode == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{target}:{port} did not answer within {timeout} s")


# --- faults -----------------------------------------------------------------------------


def inject_faults(cluster: Cluster, started: threading.Event, done: threading.Event, faults: list) -> None:
    """The fault timeline, relative to the moment the runs were started."""

    def at(offset: float) -> bool:
        while time.monotonic() < log.t0 + offset:
            if done.wait(0.1):
                return False
        return True

    def record(name: str, detail: str = "") -> None:
        faults.append({"fault": name, "at": round(time.monotonic() - log.t0, 1), "detail": detail})
        log(f"FAULT {name} {detail}".rstrip())

    started.wait()
    steps = [
        (4, "qcluster SIGKILL on app1", lambda: cluster.kill_group("qcluster-app1")),
        (7, "qcluster restarted on app1", lambda: cluster.start_qcluster("app1")),
        (10, "gunicorn worker SIGKILL on app2", lambda: os.kill(cluster.gunicorn_worker("app2"), signal.SIGKILL)),
        (16, "PostgreSQL restart (fast shutdown, start)", lambda: cluster.pg_ctl("restart", "-m", "fast")),
        (22, "Redis restart (queued tasks lost)", lambda: (cluster.kill_group("redis"), cluster.start_redis())),
        (28, "app2 link down", lambda: cluster.link("app2", up=False)),
        (38, "app2 link up", lambda: cluster.link("app2", up=True)),
    ]
    for offset, name, action in steps:
        if not at(offset):
            record("skipped (runs over or test stopped)", name)
            continue
        began = time.monotonic()
        action()
        record(name, f"({time.monotonic() - began:.1f} s)")


# --- the orchestrator --------------------------------------------------------------------


def orchestrate(args) -> int:
    if os.geteuid() != 0:
        print("scripts/cluster-test needs root (network namespaces)", file=sys.stderr)
        return 2
    tag = os.environ.get("CLUSTER_TEST_TAG") or str(os.getpid() % 100000)
    work = Path(tempfile.mkdtemp(prefix=f"cluster-test-{tag}-"))
    cluster = Cluster(work, tag, ROOT)
    log(f"work directory {work}, namespaces cct{tag}-*")

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    # SIGINT too: a shell without job control starts background commands with it ignored.
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    status = 1
    done = threading.Event()
    try:
        cluster.build_network()
        cluster.start_db()
        wait_port(cluster, "app1", address("db"), PG_PORT)
        wait_port(cluster, "app1", address("db"), REDIS_PORT)
        log("db host: PostgreSQL and Redis up")
        env = cluster.app_env("app1")
        sh(
            "ip",
            "netns",
            "exec",
            cluster.namespaces["db"],
            *cluster.as_postgres(
                f"{cluster.pg_bin}/createdb", "-h", str(cluster.pg_data), "-p", str(PG_PORT), "callcenter"
            ),
        )
        cluster.run_in("app1", [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env, timeout=300)
        # The schedules are registered once for the whole cluster, not per host.
        cluster.run_in("app1", [PYTHON, "manage.py", "setup_schedules"], env)
        cluster.start_sim()
        for host in ("app1", "app2"):
            cluster.start_web(host)
            cluster.start_qcluster(host)
        for host in ("app1", "app2"):
            wait_port(cluster, "ctl", address(host), WEB_PORT)
        wait_port(cluster, "ctl", address("twilio"), SIM_PORT)
        log("app1, app2 (gunicorn + qcluster) and the simulator up")

        started = threading.Event()
        faults: list = []
        injector = threading.Thread(target=inject_faults, args=(cluster, started, done, faults), daemon=True)
        injector.start()
        driver_env = {**cluster.app_env("ctl"), "CLUSTER_TEST_WORK": str(work)}
        driver = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                cluster.namespaces["ctl"],
                PYTHON,
                str(Path(__file__).resolve()),
                "--drive",
                "--runs",
                str(args.runs),
                "--leads",
                str(args.leads),
            ],
            cwd=ROOT,
            env=driver_env,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for line in driver.stdout:
            line = line.rstrip()
            if line == "RUNS STARTED":
                log.t0 = time.monotonic()
                started.set()
                log(f"{args.runs} runs x {args.leads} leads started")
            else:
                print(f"  {line}", flush=True)
        driver.wait()
        done.set()
        injector.join(timeout=30)
        started.set()
        result = json.loads((work / "result.json").read_text()) if (work / "result.json").exists() else None
        if result is None:
            log("the driver left no result")
            return 1
        result["faults"] = faults
        result["duplicate_executions"] = duplicate_executions(work)
        status = report(result)
        return status
    except KeyboardInterrupt as stop:
        log(f"interrupted ({stop}); cleaning up")
        status = 130
        return status
    finally:
        done.set()
        cluster.teardown()
        if args.keep_logs:
            target = Path(args.keep_logs)
            target.mkdir(parents=True, exist_ok=True)
            for path in work.glob("*.log"):
                shutil.copy(path, target / path.name)
            if (cluster.pg_data / "server.log").exists():
                shutil.copy(cluster.pg_data / "server.log", target / "postgresql.log")
        shutil.rmtree(work, ignore_errors=True)
        log(f"cleaned up (exit {status})")


def duplicate_executions(work: Path) -> dict:
    """Task ids the qclusters' workers started more than once (from their logs)."""
    started = Counter()
    for path in work.glob("qcluster-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            marker = "task started: "
            if marker in line:
                started[line.split(marker, 1)[1].split()[0]] += 1
    repeated = {task: count for task, count in started.items() if count > 1}
    return {
        "tasks": len(started),
        "executed_twice_or_more": len(repeated),
        "extra_executions": sum(count - 1 for count in repeated.values()),
    }


def report(result: dict) -> int:
    print("\n== cluster test ==")
    for fault in result["faults"]:
        print(f"  fault at +{fault['at']:5.1f}s  {fault['fault']} {fault['detail']}")
    checks = result["checks"]
    for name, (ok, detail) in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")
    duplicates = result["duplicate_executions"]
    print(
        f"  duplicate task executions: {duplicates['extra_executions']} extra executions of "
        f"{duplicates['executed_twice_or_more']} tasks (of {duplicates['tasks']}); "
        f"{result['injected_duplicates']} task copies pushed into Redis by the driver"
    )
    for name, value in result["figures"].items():
        print(f"  {name}: {value}")
    failed = [name for name, (ok, _detail) in checks.items() if not ok]
    print("RESULT:", "PASS" if not failed else f"FAIL ({', '.join(failed)})")
    return 0 if not failed else 1


# --- the driver (runs inside the ctl namespace) -------------------------------------------


def drive(args) -> int:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from callcenter.services import business_create, membership_create
    from leads.models import Lead

    work = Path(os.environ["CLUSTER_TEST_WORK"])
    businesses, tokens, numbers_of = [], {}, {}
    User = get_user_model()
    for index in range(args.runs):
        business = business_create(name=f"Cluster {index}")
        user = User.objects.create_user(username=f"cluster-{index}", password=None)
        membership_create(business=business, user=user)
        tokens[business.pk] = Token.objects.create(user=user).key
        numbers = [f"+9725{index:03d}{lead:05d}" for lead in range(args.leads)]
        Lead.objects.bulk_create(Lead(business=business, phone=phone, name=f"Lead {phone}") for phone in numbers)
        numbers_of[business.pk] = numbers
        businesses.append(business)
    hosts = [address("app1"), address("app2")]
    runs = {}
    started_at = time.monotonic()
    for index, business in enumerate(businesses):
        runs[start_run(hosts[index % 2], tokens[business.pk])] = business.pk
    print(f"{len(runs)} runs started through app1/app2 in {time.monotonic() - started_at:.1f} s", flush=True)
    # The faults start now: every run is under way.
    print("RUNS STARTED", flush=True)
    print(f"{len(runs)} runs started through app1/app2 in {time.monotonic() - started_at:.1f} s", flush=True)

    stop = threading.Event()
    injected = [0]
    copier = threading.Thread(target=copy_queued_tasks, args=(stop, injected), daemon=True)
    copier.start()
    finished = wait_for_runs(runs, started_at)
    stop.set()
    copier.join(timeout=5)
    result = check(runs=runs, numbers_of=numbers_of, finished=finished, started_at=started_at)
    result["injected_duplicates"] = injected[0]
    (work / "result.json").write_text(json.dumps(result))
    return 0


def start_run(host: str, token: str) -> int:
    """POST /api/outbound/runs. Asked again if the connection drops: a run that did start
    answers 409 (one active run per business) and is found in the business's run list."""
    import requests

    headers = {"Authorization": f"Token {token}"}
    for _attempt in range(5):
        try:
            response = requests.post(
                f"http://{host}:{WEB_PORT}/api/outbound/runs", json={"filter": {}}, headers=headers, timeout=20
            )
        except requests.ConnectionError:
            time.sleep(1)
            continue
        if response.status_code == 409:
            listed = requests.get(f"http://{host}:{WEB_PORT}/api/outbound/runs", headers=headers, timeout=20)
            return listed.json()[0]["run_id"]
        response.raise_for_status()
        return response.json()["run_id"]
    raise RuntimeError(f"could not start a run through {host}")


def copy_queued_tasks(stop: threading.Event, injected: list) -> None:
    """Pushes a second copy of some queued tasks, as a broker that delivers twice would."""
    import redis

    client = redis.Redis(host=address("db"), port=REDIS_PORT, socket_timeout=2, socket_connect_timeout=2)
    key = "django_q:callcenter:q"
    copied: set[bytes] = set()
    while not stop.wait(0.5):
        try:
            for package in client.lrange(key, 0, 2):
                if package not in copied:
                    copied.add(package)
                    client.rpush(key, package)
                    injected[0] += 1
        except redis.RedisError:
            continue


def wait_for_runs(runs: dict, started_at: float) -> dict:
    from outbound.models import OutboundCallJob, OutboundCallRun

    deadline = started_at + DRIVE_TIMEOUT_SECONDS
    last_print = 0.0
    while True:
        try:
            active = OutboundCallRun.objects.filter(pk__in=runs, status__in=OutboundCallRun.ACTIVE_STATUSES).count()
            if time.monotonic() - last_print > 5:
                done = OutboundCallJob.objects.filter(
                    run_id__in=runs, status__in=OutboundCallJob.FINAL_STATUSES
                ).count()
                print(f"+{time.monotonic() - started_at:5.1f}s  active runs {active}, calls done {done}", flush=True)
                last_print = time.monotonic()
            if not active or time.monotonic() > deadline:
                break
        except Exception as error:  # the database is being restarted under us
            from django.db import connection

            print(f"+{time.monotonic() - started_at:5.1f}s  driver: database unavailable ({type(error).__name__})")
            connection.close()
        time.sleep(1)
    return {"elapsed": time.monotonic() - started_at}


def calls_by_sim() -> list[dict]:
    import requests

    return requests.get(f"http://{address('twilio')}:{SIM_PORT}/_sim/calls", timeout=30).json()


def max_overlap(calls: list[dict]) -> int:
    events = []
    for call in calls:
        if call.get("created_at") is None:
            continue
        events.append((call["created_at"], 1))
        events.append((call["ended_at"] if call.get("ended_at") is not None else float("inf"), -1))
    events.sort()
    current = highest = 0
    for _moment, change in events:
        current += change
        highest = max(highest, current)
    return highest


def lost_final_callback(call: dict) -> bool:
    finals = [
        c
        for c in call.get("callbacks", [])
        if c.get("kind") == "status" and c.get("event") in ("completed", "busy", "no-answer", "failed", "canceled")
    ]
    return bool(finals) and not any(c.get("http_status") and 200 <= c["http_status"] < 300 for c in finals)


def check(*, runs: dict, numbers_of: dict, finished: dict, started_at: float) -> dict:
    from urllib.parse import parse_qs, urlsplit

    from outbound.models import OutboundCallJob, OutboundCallRun

    sim_calls = calls_by_sim()
    by_number = defaultdict(list)
    for call in sim_calls:
        by_number[call["to"]].append(call)
    run_rows = {run.pk: run for run in OutboundCallRun.objects.filter(pk__in=runs)}
    checks = {}

    violations = []
    for run_id, business_id in runs.items():
        calls = [call for number in numbers_of[business_id] for call in by_number.get(number, [])]
        overlap = max_overlap(calls)
        if overlap > run_rows[run_id].concurrency:
            violations.append(f"run {run_id}: {overlap} at once")
    checks["cap (simulator timelines)"] = (not violations, f"{len(violations)} violations {violations[:5]}")

    doubled = [number for number, calls in by_number.items() if max_overlap(calls) > 1]
    checks["no number in two calls at once"] = (not doubled, f"{len(doubled)} numbers {doubled[:5]}")

    over = [number for number, calls in by_number.items() if len(calls) > MAX_ATTEMPTS]
    over_db = OutboundCallJob.objects.filter(run_id__in=runs, attempts__gt=MAX_ATTEMPTS).count()
    checks["no lead over its attempts"] = (
        not over and not over_db,
        f"max {MAX_ATTEMPTS}; {len(over)} numbers dialed more often, {over_db} calls with more attempts",
    )

    slow = []
    durations = []
    for run in run_rows.values():
        if run.finished_at is None or run.status in OutboundCallRun.ACTIVE_STATUSES:
            slow.append(f"run {run.pk} still {run.status}")
            continue
        seconds = (run.finished_at - run.started_at).total_seconds()
        durations.append(seconds)
        if seconds > RUN_BOUND_SECONDS:
            slow.append(f"run {run.pk} took {seconds:.0f} s")
    statuses = Counter(run.status for run in run_rows.values())
    checks[f"every run finished within {RUN_BOUND_SECONDS} s"] = (
        not slow,
        f"statuses {dict(statuses)}, longest {max(durations, default=0):.0f} s; {slow[:5]}",
    )
    active = OutboundCallJob.objects.filter(run_id__in=runs, status__in=OutboundCallJob.ACTIVE_STATUSES).count()
    queued = OutboundCallJob.objects.filter(run_id__in=runs, status=OutboundCallJob.Status.QUEUED).count()
    leftover = list(
        OutboundCallJob.objects.filter(run_id__in=runs)
        .exclude(status__in=OutboundCallJob.FINAL_STATUSES)
        .values("id", "status", "call_sid", "claim_number", "attempts", "dial_started_at", "last_event_at")[:5]
    )
    checks["no call left active or queued"] = (
        not active and not queued,
        f"{active} active, {queued} queued {[{k: str(v) for k, v in row.items()} for row in leftover]}",
    )

    lost = [call for call in sim_calls if lost_final_callback(call)]
    unresolved = []
    for call in lost:
        query = parse_qs(urlsplit(call.get("status_callback") or "").query)
        job = OutboundCallJob.objects.filter(pk=int(query["job_id"][0])).first()
        claim = int(query["claim"][0])
        if job is None or (job.claim_number == claim and job.status in OutboundCallJob.ACTIVE_STATUSES):
            unresolved.append(call["sid"])
    checks["every lost final callback recovered"] = (
        not unresolved,
        f"{len(lost)} calls lost their final callback, {len(unresolved)} left unresolved",
    )
    finals = Counter(OutboundCallJob.objects.filter(run_id__in=runs).values_list("status", flat=True))
    faults = Counter(
        c.get("fault") or ("error" if c.get("error") or (c.get("http_status") or 200) >= 300 else "ok")
        for call in sim_calls
        for c in call.get("callbacks", [])
    )
    return {
        "checks": checks,
        "figures": {
            "calls placed (simulator)": len(sim_calls),
            "call outcomes": dict(finals),
            "callbacks by fault": dict(faults),
            "runs over after": f"{finished['elapsed']:.1f} s",
            "run duration median": f"{sorted(durations)[len(durations) // 2]:.1f} s" if durations else "-",
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--leads", type=int, default=50)
    parser.add_argument("--keep-logs", default="", help="copy every host's log here before cleaning up")
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return drive(args) if args.drive else orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
