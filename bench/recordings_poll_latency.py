"""Latency of the recordings 202 path under 50 concurrent pollers, against a baseline.

What a browser player does while a recording is prepared: POST /api/recordings/<sid>/prepare
and get 202 + Retry-After. 50 pollers hammer it (no think time) on a real gunicorn
(2 workers x 4 threads) over PostgreSQL; the baseline is GET /api/jobs/<id> (the same auth,
tenancy and one-row read) measured the same way in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_recordings \
        .venv/bin/python -m bench.recordings_poll_latency [--pollers 50] [--seconds 10] [--paced-seconds 15]
"""

import argparse
import random
import threading
import time

import requests

from bench.recordings_support import Gunicorn, run_pollers, setup_django, summary, timed_request


def hammer(
    *, url: str, method: str, token: str, pollers: int, seconds: float, expected: int, think: float = 0.0
) -> list[float]:
    start_line = threading.Barrier(pollers)
    deadline_holder: list[float] = []

    def poll(latencies: list[float], failures: list[str]) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        start_line.wait()
        if not deadline_holder:
            deadline_holder.append(time.monotonic() + seconds)
        if think:
            # Real players started at different moments: spread the pollers over one period.
            time.sleep(random.uniform(0, think))
        while time.monotonic() < deadline_holder[0]:
            timed_request(session, method, url, expected=expected, latencies=latencies, failures=failures)
            if think:
                time.sleep(think)

    return run_pollers(poll, pollers=pollers, url=url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--paced-seconds",
        type=float,
        default=15.0,
        help="also measure pollers that wait Retry-After (3 s) between polls",
    )
    args = parser.parse_args()
    setup_django()

    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from callcenter.models import BackgroundJob, Business, Membership
    from recordings.models import Recording, RecordingRun

    business = Business.objects.create(name="bench recordings poll")
    user = get_user_model().objects.create(username=f"bench-poll-{business.pk}")
    Membership.objects.create(user=user, business=business)
    token = Token.objects.create(user=user).key
    recording = Recording.objects.create(business=business, call_sid=f"CAbench{business.pk}", recording_sid="REbench")
    # A fresh active run the whole time (no worker picks it up): every poll is the 202 path.
    run = RecordingRun.objects.create(
        business=business, recording=recording, call_sid=recording.call_sid, heartbeat_at=timezone.now()
    )
    job = BackgroundJob.objects.create(business=business, job_type=BackgroundJob.JobType.DELETE_LEADS)

    server = Gunicorn()
    try:
        prepare = f"{server.url}/api/recordings/{recording.call_sid}/prepare"
        baseline_url = f"{server.url}/api/jobs/{job.pk}"
        # Warm-up: connections, imports, caches.
        hammer(url=baseline_url, method="GET", token=token, pollers=4, seconds=1, expected=200)
        hammer(url=prepare, method="POST", token=token, pollers=4, seconds=1, expected=202)
        baseline = hammer(
            url=baseline_url, method="GET", token=token, pollers=args.pollers, seconds=args.seconds, expected=200
        )
        polls = hammer(
            url=prepare, method="POST", token=token, pollers=args.pollers, seconds=args.seconds, expected=202
        )
        paced = {}
        if args.paced_seconds:
            common = {"token": token, "pollers": args.pollers, "seconds": args.paced_seconds, "think": 3.0}
            paced["baseline"] = hammer(url=baseline_url, method="GET", expected=200, **common)
            paced["prepare"] = hammer(url=prepare, method="POST", expected=202, **common)
    finally:
        server.stop()
        run.refresh_from_db()
        runs = RecordingRun.objects.filter(recording=recording).count()
        business.delete()
        user.delete()

    from bench.recordings_support import percentile

    print(f"pollers={args.pollers} seconds={args.seconds} server=gunicorn 2 workers x 4 threads, PostgreSQL")
    print(f"baseline GET /api/jobs/<id>:            {summary(baseline)}  {len(baseline) / args.seconds:.0f} req/s")
    print(f"202 path POST /api/recordings/<sid>/prepare: {summary(polls)}  {len(polls) / args.seconds:.0f} req/s")
    print(
        f"ratio 202 path / baseline: p50 x{percentile(polls, 0.5) / percentile(baseline, 0.5):.2f}, "
        f"p99 x{percentile(polls, 0.99) / percentile(baseline, 0.99):.2f}, "
        f"throughput x{len(polls) / len(baseline):.2f}"
    )
    if paced:
        print(f"paced (each poller waits Retry-After = 3 s between polls, {args.paced_seconds:.0f} s):")
        print(f"  baseline GET /api/jobs/<id>:            {summary(paced['baseline'])}")
        print(f"  202 path POST /api/recordings/<sid>/prepare: {summary(paced['prepare'])}")
        p50_ratio = percentile(paced["prepare"], 0.5) / percentile(paced["baseline"], 0.5)
        p99_ratio = percentile(paced["prepare"], 0.99) / percentile(paced["baseline"], 0.99)
        print(f"  ratio 202 path / baseline: p50 x{p50_ratio:.2f}, p99 x{p99_ratio:.2f}")
    print(f"download runs for the call after {len(polls)} polls: {runs} (the same job answered every time)")


if __name__ == "__main__":
    main()
