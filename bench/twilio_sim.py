"""Figures of the Twilio gateway against the local simulator, each against a baseline
measured in the same run:

1. call creation through the gateway (real twilio client) vs. plain HTTP round trips to the
   same simulator: the overhead of the client and the simulator's call bookkeeping;
2. callback delivery: signed status callbacks per second reaching a receiver vs. the same
   number of plain HTTP round trips;
3. memory: peak RSS growth while streaming a large recording through
   ``twilio_gateway.recording_media`` vs. loading the same file into memory at once.

Usage: .venv/bin/python bench/twilio_sim.py [--calls 400] [--threads 8] [--recording-mb 200]
"""

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcenter.settings")

import django

django.setup()

import psutil  # noqa: E402
import requests  # noqa: E402
from django.conf import settings  # noqa: E402

from callcenter import twilio_gateway  # noqa: E402
from tests.plugins.twilio_sim import SignedRequestLog, threaded_httpserver  # noqa: E402
from twilio_sim import SIM_FROM_NUMBER, SimConfig, TwilioSimulator, max_overlap  # noqa: E402

_sessions = threading.local()


def _session() -> requests.Session:
    if not hasattr(_sessions, "session"):
        _sessions.session = requests.Session()
    return _sessions.session


def _timed_parallel(function, count: int, threads: int) -> float:
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(function, range(count)))
    return time.perf_counter() - began


class PeakRss:
    """Samples this process's resident memory every millisecond while active."""

    def __init__(self):
        self.process = psutil.Process()
        self.baseline = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--recording-mb", type=int, default=200)
    args = parser.parse_args()

    simulator = TwilioSimulator(SimConfig(time_scale=1000, seed=1)).start()
    server = threaded_httpserver()
    server.start()
    receiver = SignedRequestLog(server, simulator.config.auth_token)
    settings.TWILIO_API_BASE_URL = simulator.base_url
    settings.TWILIO_ACCOUNT_SID = simulator.config.account_sid
    settings.TWILIO_AUTH_TOKEN = simulator.config.auth_token
    settings.TWILIO_FROM_NUMBER = SIM_FROM_NUMBER
    try:
        # Warm up connections and imports.
        _timed_parallel(lambda _: _session().get(f"{simulator.base_url}/_sim/config", timeout=10), 50, args.threads)

        baseline = _timed_parallel(
            lambda _: _session().get(f"{simulator.base_url}/_sim/config", timeout=10), args.calls, args.threads
        )

        def create(index: int) -> None:
            twilio_gateway.call_create(
                to=f"+9725{index:08d}",
                twiml_url=receiver.url("/twiml"),
                status_callback_url=receiver.url("/status?bench=1"),
            )

        created_at = time.perf_counter()
        creating = _timed_parallel(create, args.calls, args.threads)
        callbacks = receiver.wait_for(4 * args.calls, "/status", timeout=300)
        delivering = time.perf_counter() - created_at
        assert simulator.wait_idle(timeout=60), "simulator did not finish"
        valid = sum(1 for c in callbacks if c.signature_valid)
        overlap = max_overlap(simulator.calls(), callback_contains="bench=1")

        print(f"calls={args.calls} threads={args.threads} time_scale=1000x")
        print(f"baseline plain HTTP round trips: {args.calls / baseline:8.1f} req/s")
        print(
            f"gateway call_create:             {args.calls / creating:8.1f} calls/s  "
            f"(ratio to baseline time: {creating / baseline:.2f}x)"
        )
        print(
            f"signed callbacks delivered:      {len(callbacks) / delivering:8.1f} callbacks/s  "
            f"({valid}/{4 * args.calls} valid; ratio to baseline rate: "
            f"{(len(callbacks) / delivering) / (args.calls / baseline):.2f}x)"
        )
        print(f"max overlapping calls from /_sim/calls timelines: {overlap}")

        size = args.recording_mb * 1_000_000
        simulator.configure(recording_size_bytes=size)
        twilio_gateway.call_create(
            to="+972500000000",
            twiml_url=receiver.url("/twiml"),
            status_callback_url=receiver.url("/status?rec=1"),
            record=True,
            recording_status_callback_url=receiver.url("/recording"),
        )
        [recording] = receiver.wait_for(1, "/recording", timeout=60)
        sid = recording.params["RecordingSid"]

        with PeakRss() as loaded:
            body = requests.get(
                twilio_gateway.recording_media_url(recording_sid=sid, fmt="wav"),
                auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN),
                timeout=60,
            ).content
            loaded_size = len(body)
            del body
        with PeakRss() as streamed:
            streamed_size = 0
            with twilio_gateway.recording_media(recording_sid=sid, fmt="wav") as media:
                for chunk in media.chunks:
                    streamed_size += len(chunk)
        assert loaded_size == streamed_size == size
        print(f"recording of {size / 1e6:.0f} MB: baseline load-at-once peak RSS growth {loaded.growth_mb:7.1f} MB")
        print(
            f"recording_media streaming peak RSS growth:         {streamed.growth_mb:7.1f} MB "
            f"(ratio {streamed.growth_mb / max(loaded.growth_mb, 0.001):.3f}x)"
        )
    finally:
        server.stop()
        simulator.stop()


if __name__ == "__main__":
    main()
