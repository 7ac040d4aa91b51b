"""What one recording request costs inside Django, without any server: the project's
middleware, views and SQL on PostgreSQL, driven in-process by Django's test client (named in
the output: no HTTP server, no nginx), RECORDING_FILE_DELIVERY=x-accel-redirect as in
production, so a file answer is the headers nginx acts on.

  file, token   GET /api/recordings/file/<sid> with a token: an API client (authentication,
                membership, recording)
  file, signed  GET of the `url` POST prepare answers with, no credentials: what a player asks
                per range (signature, then the recording's state)
  prepare, 202  POST /api/recordings/<sid>/prepare of a call whose download is under way: a
                poller's request

Each with `Range: bytes=0-1048575`; median and minimum of --blocks blocks of --requests
requests, and the SQL statements one request runs. The file and signed rows are measured in
the same run: their ratio is the figure, the absolute times follow the machine's load.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_recordings \\
        .venv/bin/python -m bench.recordings_request_cost [--requests 400] [--blocks 5]
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.recordings_support import bench_recording_create, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()
    os.environ["RECORDING_FILE_DELIVERY"] = "x-accel-redirect"
    # One client asking thousands of times a minute is the load measured, not one to throttle.
    os.environ["API_THROTTLE_USER_RATE"] = "1000000000/min"
    media_root = Path(tempfile.mkdtemp(prefix="bench-request-cost-"))
    setup_django(media_root=str(media_root))

    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from recordings.models import Recording, RecordingRun

    recording = bench_recording_create(tag="cost", business_name="bench request cost", media_root=media_root, size_mb=2)
    pending = Recording.objects.create(
        business=recording.business, call_sid=f"CAbenchcostpending{recording.business.pk}", recording_sid="RE2"
    )
    RecordingRun.objects.create(
        business=recording.business, recording=pending, call_sid=pending.call_sid, heartbeat_at=timezone.now()
    )
    api = Client(HTTP_AUTHORIZATION=f"Token {recording.token}", HTTP_HOST="localhost")
    player = Client(HTTP_HOST="localhost")
    try:
        signed_url = api.post(f"/api/recordings/{recording.call_sid}/prepare").json()["url"]
        cases = {
            "file, token": (api.get, f"/api/recordings/file/{recording.call_sid}", 200),
            "file, signed (player)": (player.get, signed_url, 200),
            "prepare, 202 (poller)": (api.post, f"/api/recordings/{pending.call_sid}/prepare", 202),
        }
        results = {}
        for name, (ask, url, expected) in cases.items():
            for _ in range(50):  # warm-up: imports, the connection, caches
                response = ask(url, HTTP_RANGE="bytes=0-1048575")
                assert response.status_code == expected, (name, response.status_code, response.content[:200])
            statements = []

            def count(execute, sql, params, many, context, statements=statements):
                statements.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                ask(url, HTTP_RANGE="bytes=0-1048575")
            blocks = []
            for _ in range(args.blocks):
                began = time.perf_counter()
                for _ in range(args.requests):
                    ask(url, HTTP_RANGE="bytes=0-1048575")
                blocks.append((time.perf_counter() - began) / args.requests * 1000)
            results[name] = (statistics.median(blocks), min(blocks), len(statements))
    finally:
        recording.delete()
        shutil.rmtree(media_root, ignore_errors=True)

    print(
        f"in-process (Django's test client, no HTTP server), x-accel-redirect delivery, PostgreSQL; "
        f"{args.blocks} blocks of {args.requests} requests"
    )
    for name, (median, fastest, statements) in results.items():
        print(f"  {name:24s} ms/request median {median:.3f} (min {fastest:.3f}); {statements} SQL statements")
    token, signed = results["file, token"][0], results["file, signed (player)"][0]
    print(f"  signed / token file request: x{signed / token:.2f}")


if __name__ == "__main__":
    main()
