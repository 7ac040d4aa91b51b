"""Serving a 100 MB recording: our file endpoint (auth, tenancy, ETag, Range) against
Django's plain static file view of the same file, in the same run, on a real gunicorn
(2 workers x 4 threads) over PostgreSQL; plus the server's resident memory.

Scenarios, each by --clients concurrent clients fetching the whole file --rounds times:
  static   GET /bench-media/... (django.views.static.serve: the baseline; it has no Range)
  ranges   GET /api/recordings/file/<sid> in sequential Range requests (206 each; 1 MiB default),
           the way a player streams and seeks
  full     GET /api/recordings/file/<sid> in one request (200)
Every byte received is checked against the file's SHA-256.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_recordings \
        .venv/bin/python -m bench.recordings_range_serving \
        [--size-mb 100] [--clients 4] [--rounds 1] [--repeats 3] [--range-kib 1024]
"""

import argparse
import hashlib
import shutil
import statistics
import tempfile
import threading
import time

import requests

from bench.recordings_support import Gunicorn, MemorySampler, bench_recording_create, mib, setup_django


def fetch_whole(session: requests.Session, url: str) -> tuple[str, int, int]:
    digest, received = hashlib.sha256(), 0
    with session.get(url, stream=True, timeout=60) as response:
        assert response.status_code == 200, response.status_code
        for chunk in response.iter_content(256 * 1024):
            digest.update(chunk)
            received += len(chunk)
    return digest.hexdigest(), received, 1


def fetch_in_ranges(session: requests.Session, url: str, size: int, range_size: int) -> tuple[str, int, int]:
    digest, received, requests_made = hashlib.sha256(), 0, 0
    for start in range(0, size, range_size):
        end = min(start + range_size, size) - 1
        with session.get(url, headers={"Range": f"bytes={start}-{end}"}, stream=True, timeout=60) as response:
            assert response.status_code == 206, response.status_code
            assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
            # Read as fetch_whole does (256 KiB blocks): the client must not be the bottleneck.
            for chunk in response.iter_content(256 * 1024):
                digest.update(chunk)
                received += len(chunk)
        requests_made += 1
    return digest.hexdigest(), received, requests_made


def scenario(server: Gunicorn, *, name: str, fetch, clients: int, rounds: int, checksum: str, token: str | None):
    results, errors = [], []
    start_line = threading.Barrier(clients)

    def client():
        session = requests.Session()
        if token:
            session.headers["Authorization"] = f"Token {token}"
        try:
            start_line.wait()
            for _ in range(rounds):
                results.append(fetch(session))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    with MemorySampler(server) as memory:
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
    if errors:
        raise SystemExit(f"{name}: {errors[0]!r}")
    assert all(digest == checksum for digest, _received, _requests in results), f"{name}: corrupted bytes"
    received = sum(received for _digest, received, _requests in results)
    requests_made = sum(count for _digest, _received, count in results)
    return {
        "name": name,
        "seconds": elapsed,
        "mb_per_s": received / 2**20 / elapsed,
        "requests": requests_made,
        "peak_rss": memory.peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--range-kib", type=int, default=1024, help="size of each Range request")
    args = parser.parse_args()
    media_root = tempfile.mkdtemp(prefix="bench-recordings-")
    setup_django(media_root=media_root)

    recording = bench_recording_create(
        tag="range", business_name="bench recordings range", media_root=media_root, size_mb=args.size_mb
    )
    size, name, call_sid, token = recording.size, recording.name, recording.call_sid, recording.token
    range_size = args.range_kib * 1024
    common = {"clients": args.clients, "rounds": args.rounds, "checksum": recording.checksum}

    server = Gunicorn()
    try:
        static_url = f"{server.url}/bench-media/{name}"
        file_url = f"{server.url}/api/recordings/file/{call_sid}"
        # Warm-up (imports, connections, page cache), then the server's idle memory.
        requests.get(static_url, timeout=60).close()
        requests.get(file_url, headers={"Authorization": f"Token {token}", "Range": "bytes=0-0"}, timeout=60)
        idle_rss = server.rss_bytes()
        scenarios = {
            "static": (lambda session: fetch_whole(session, static_url), None),
            "ranges": (lambda session: fetch_in_ranges(session, file_url, size, range_size), token),
            "full": (lambda session: fetch_whole(session, file_url), token),
        }
        # Interleaved repeats: this machine's other load shifts every scenario alike.
        measured = {name: [] for name in scenarios}
        for _repeat in range(args.repeats):
            for name, (fetch, auth) in scenarios.items():
                measured[name].append(scenario(server, name=name, fetch=fetch, token=auth, **common))
    finally:
        server.stop()
        recording.delete()
        shutil.rmtree(media_root, ignore_errors=True)

    print(
        f"file {args.size_mb} MiB, {args.clients} clients x {args.rounds} rounds each, ranges of {args.range_kib} KiB, "
        f"median of {args.repeats} interleaved repeats; gunicorn 2 workers x 4 threads, PostgreSQL"
    )
    print(f"server idle RSS (master + workers): {mib(idle_rss)}")
    static_speed = statistics.median(r["mb_per_s"] for r in measured["static"])
    for name, results in measured.items():
        speed = statistics.median(r["mb_per_s"] for r in results)
        peak = max(r["peak_rss"] for r in results)
        print(
            f"{name:>6}: {speed:7.1f} MiB/s  {results[0]['requests']:5d} requests per repeat  "
            f"x{speed / static_speed:.2f} of static  "
            f"server peak RSS {mib(peak)} (+{mib(peak - idle_rss)} over idle)"
        )


if __name__ == "__main__":
    main()
