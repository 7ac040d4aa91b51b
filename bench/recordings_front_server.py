"""Recordings in the production layout: Debian's nginx with the shipped site file
(deploy/nginx/callcenter.conf, TLS) in front of gunicorn (deploy/gunicorn.conf.py, 2 workers
x 4 threads, RECORDING_FILE_DELIVERY=x-accel-redirect) over PostgreSQL. Same run, same file:

  static   nginx serving the file itself (a plain `alias` location on the same nginx, same TLS):
           the baseline
  accel    what a player does: POST /api/recordings/<sid>/prepare (token, business, recording
           state) once, then GET the `url` it answers, the signed file URL
           (recordings.signed_urls), with no credentials: per range Django checks the signature
           and the recording's state, then nginx streams it through X-Accel-Redirect

Each by --clients clients fetching the whole file in sequential Range requests (206 each; 1 MiB,
or --range-kib), every byte checked against the file's SHA-256; interleaved repeats, median
and spread. Before the clock starts each client sets up its connection and TLS (the accel
client with its prepare request, the static one with a 1-byte range).

Then the 202 path: --pollers players each POST /api/recordings/<sid>/prepare through nginx,
get 202 + Retry-After and wait exactly that long before the next poll (staggered starts, as
players open at different moments), against the same pollers doing GET /healthz through the
same nginx (the baseline: TLS, proxy and gunicorn without any application work). Nothing here
is driven by hand: the answers' own Retry-After paces the pollers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_ops \\
        .venv/bin/python -m bench.recordings_front_server \\
        [--size-mb 100] [--clients 4] [--repeats 5] [--pollers 50] [--poll-seconds 20] [--poll-repeats 3]
"""

import argparse
import hashlib
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.recordings_support import bench_recording_create, percentile, run_pollers, setup_django, timed_request
from tests.plugins.front import (
    FrontLayout,
    Nginx,
    deployed_gunicorn,
    free_port,
    render_site_in_front_of,
    wait_until_answers,
)


def fetch_in_ranges(session: requests.Session, url: str, size: int, range_size: int) -> tuple[str, int]:
    digest, requests_made = hashlib.sha256(), 0
    for start in range(0, size, range_size):
        end = min(start + range_size, size) - 1
        response = session.get(url, headers={"Range": f"bytes={start}-{end}"}, timeout=60)
        assert response.status_code == 206, (response.status_code, response.text[:200])
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        digest.update(response.content)
        requests_made += 1
    return digest.hexdigest(), requests_made


def player_file_url(session: requests.Session, *, base: str, call_sid: str, token: str) -> str:
    """The file URL a player is given: the `url` of POST prepare (signed, needs no credentials)."""
    response = session.post(
        f"{base}/api/recordings/{call_sid}/prepare", headers={"Authorization": f"Token {token}"}, timeout=30
    )
    assert response.status_code == 200, (response.status_code, response.text[:200])
    return base + response.json()["url"]


def new_session(cert: Path, token: str | None) -> requests.Session:
    session = requests.Session()
    session.verify = str(cert)
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    if token:
        session.headers["Authorization"] = f"Token {token}"
    return session


def throughput(*, file_url, size: int, range_size: int, clients: int, cert: Path, checksum: str) -> float:
    """MiB/s over all clients, each fetching the whole file once in ranges of `range_size`
    from the URL `file_url(session)` gives it (that call also sets up connection and TLS)."""
    results, errors = [], []
    start_line = threading.Barrier(clients + 1)

    def client():
        session = new_session(cert, None)
        url = file_url(session)
        start_line.wait()
        try:
            results.append(fetch_in_ranges(session, url, size, range_size))
        except Exception as error:
            errors.append(f"{url}: {error!r}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise SystemExit(errors[0])
    assert all(digest == checksum for digest, _ in results), "corrupted bytes"
    return clients * size / 2**20 / elapsed


def paced_pollers(
    *, url: str, method: str, expected: int, pollers: int, seconds: float, cert: Path, token: str | None
) -> list[float]:
    """Latencies of pollers that wait each answer's Retry-After (3 s when it has none)."""
    deadline = time.monotonic() + seconds

    def poll(latencies: list[float], failures: list[str]) -> None:
        session = new_session(cert, token)
        time.sleep(random.uniform(0, 3.0))  # players start at different moments
        while time.monotonic() < deadline:
            response = timed_request(session, method, url, expected=expected, latencies=latencies, failures=failures)
            if response.status_code != expected:
                break
            time.sleep(float(response.headers.get("Retry-After", "3")))

    return run_pollers(poll, pollers=pollers, url=url)


def server_means(exposition: str) -> dict[str, tuple[int, float]]:
    """Count and mean of the request and SQL timings the application recorded."""
    from prometheus_client.parser import text_string_to_metric_families

    sums, counts = {}, {}
    wanted = {
        "callcenter_http_request_duration_seconds": "route",
        "callcenter_db_query_duration_seconds": "statement",
    }
    for family in text_string_to_metric_families(exposition):
        if family.name not in wanted:
            continue
        for sample in family.samples:
            label = f"{family.name.removeprefix('callcenter_')}[{sample.labels.get(wanted[family.name])}]"
            if sample.name.endswith("_sum"):
                sums[label] = sums.get(label, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                counts[label] = counts.get(label, 0.0) + sample.value
    return {
        label: (int(counts[label]), sums[label] / counts[label] * 1000)
        for label in sorted(counts)
        if counts[label] >= 10
    }


def spread(values: list[float], digits: int = 2) -> str:
    return f"median {statistics.median(values):.{digits}f} (min {min(values):.{digits}f}, max {max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--range-kib", type=int, default=1024, help="size of each Range request")
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--poll-seconds", type=float, default=20.0)
    parser.add_argument("--poll-repeats", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-front-"))
    layout = FrontLayout.create(workdir)
    media_root, cert, key = layout.media_root, layout.cert, layout.key
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_ops")
    setup_django(media_root=str(media_root))

    from django.utils import timezone

    from recordings.models import Recording, RecordingRun

    recording = bench_recording_create(
        tag="front", business_name="bench front server", media_root=media_root, size_mb=args.size_mb
    )
    # A call whose download is under way the whole time (no worker takes it): every poll is 202.
    pending = Recording.objects.create(
        business=recording.business, call_sid=f"CAbenchpending{recording.business.pk}", recording_sid="RE2"
    )
    RecordingRun.objects.create(
        business=recording.business, recording=pending, call_sid=pending.call_sid, heartbeat_at=timezone.now()
    )

    static_port = free_port()
    gunicorn = deployed_gunicorn(
        layout,
        env={
            "DJANGO_SETTINGS_MODULE": "callcenter.settings",
            "DATABASE_CONN_MAX_AGE": "60",
            # One benchmark user makes thousands of range requests a minute.
            "API_THROTTLE_USER_RATE": "1000000/min",
        },
    )
    nginx_dir, site = render_site_in_front_of(gunicorn, layout)
    # The baseline: the same nginx, the same TLS, the file served by a plain alias location.
    static_server = f"""
    server {{
        listen 127.0.0.1:{static_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location /static-media/ {{ alias {media_root}/; }}
    }}
    """
    nginx = Nginx(directory=nginx_dir, site=site, extra_http=static_server, workers=2)
    base = layout.url
    try:
        wait_until_answers(f"{base}/healthz", process=nginx.process, verify=str(cert))
        static_url = f"https://localhost:{static_port}/static-media/{recording.name}"

        def static_file_url(session: requests.Session) -> str:
            session.get(static_url, headers={"Range": "bytes=0-0"}, timeout=30)  # connection and TLS
            return static_url

        def accel_file_url(session: requests.Session) -> str:
            return player_file_url(session, base=base, call_sid=recording.call_sid, token=recording.token)

        common = {
            "size": recording.size,
            "range_size": args.range_kib * 1024,
            "clients": args.clients,
            "cert": cert,
            "checksum": recording.checksum,
        }
        # Warm-up: page cache, imports, database connections.
        throughput(file_url=static_file_url, **common)
        throughput(file_url=accel_file_url, **common)
        measured = {"static": [], "accel": []}
        for _ in range(args.repeats):  # interleaved: the machine's other load shifts both alike
            measured["static"].append(throughput(file_url=static_file_url, **common))
            measured["accel"].append(throughput(file_url=accel_file_url, **common))

        prepare_url = f"{base}/api/recordings/{pending.call_sid}/prepare"
        poll_common = {"pollers": args.pollers, "seconds": args.poll_seconds, "cert": cert}
        polls = {"healthz": [], "prepare": []}
        for _ in range(args.poll_repeats):
            polls["healthz"].append(
                paced_pollers(url=f"{base}/healthz", method="GET", expected=200, token=None, **poll_common)
            )
            polls["prepare"].append(
                paced_pollers(url=prepare_url, method="POST", expected=202, token=recording.token, **poll_common)
            )
        runs = RecordingRun.objects.filter(recording=pending).count()
        # What the application itself spent, from its own /metrics (all repeats together).
        server_side = server_means(new_session(cert, None).get(f"{base}/metrics", timeout=30).text)
    finally:
        nginx.stop()
        gunicorn.stop()
        recording.delete()
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"nginx (shipped site, TLS) + gunicorn 2 workers x 4 threads, PostgreSQL; file {args.size_mb} MiB; "
        f"{args.clients} clients each fetching it whole in {args.range_kib} KiB Range requests; "
        f"{args.repeats} interleaved repeats"
    )
    ratios = [accel / static for static, accel in zip(measured["static"], measured["accel"], strict=True)]
    print(f"  static  (nginx alias):                                  MiB/s {spread(measured['static'], 1)}")
    print(f"  accel   (prepare's signed url, Django checks + X-Accel): MiB/s {spread(measured['accel'], 1)}")
    print(
        f"          (RECORDING_READY_CACHE_SECONDS={os.environ.get('RECORDING_READY_CACHE_SECONDS', '2')}: "
        "the recording's state asked of the database at most that often per process; 0: every range)"
    )
    print(f"  accel / static, per repeat:                             x{spread(ratios)}")
    if args.poll_repeats:
        print(
            f"202 path: {args.pollers} pollers honouring Retry-After through nginx, {args.poll_seconds:.0f} s, "
            f"{args.poll_repeats} repeats"
        )
        for name, label in (("healthz", "baseline GET /healthz"), ("prepare", "POST /api/recordings/<sid>/prepare")):
            p50 = [percentile(latencies, 0.5) * 1000 for latencies in polls[name]]
            p99 = [percentile(latencies, 0.99) * 1000 for latencies in polls[name]]
            count = statistics.median(len(latencies) for latencies in polls[name])
            print(f"  {label:36s} p50 ms {spread(p50, 1)}; p99 ms {spread(p99, 1)}; {count:.0f} polls per repeat")
        p99_ratio = [
            percentile(prepare, 0.99) / percentile(healthz, 0.99)
            for healthz, prepare in zip(polls["healthz"], polls["prepare"], strict=True)
        ]
        print(f"  p99 202 path / baseline: x{spread(p99_ratio)}")
        print(f"  download runs for the polled call: {runs} (the same run answered every poll)")
    print("inside the application (its /metrics, mean over every request of the run):")
    for label, (count, mean_ms) in server_side.items():
        print(f"  {label:52s} {count:6d} x {mean_ms:6.2f} ms")


if __name__ == "__main__":
    main()
