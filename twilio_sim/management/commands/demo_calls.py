"""A whole outbound run against the local Twilio simulator, with a progress bar and a summary.

Everything runs in this process: the simulator, a small web server that receives its signed
callbacks, and the reconciler / safety tick that the schedules run in production.
"""

import threading
import time
from collections import Counter

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.db import connection
from django.utils import timezone

from callcenter.services import business_create
from leads.models import Lead
from outbound import selectors, services
from outbound.models import MAX_SLOTS, OutboundCallJob
from twilio_sim import SIM_FROM_NUMBER, SimConfig, TwilioSimulator, max_overlap


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


class Command(BaseCommand):
    help = "Run a whole outbound call run against the local Twilio simulator and summarise it."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=20, help="How many demo leads to call.")
        parser.add_argument("--concurrency", type=int, default=MAX_SLOTS, help="Calls at once (1-3).")
        parser.add_argument("--time-scale", type=float, default=20.0, help="Simulated seconds per real second.")
        parser.add_argument("--faults", action="store_true", help="Duplicate, reorder and drop some callbacks.")
        parser.add_argument("--timeout", type=float, default=600.0, help="Give up after this many seconds.")

    def handle(self, *args, **options):
        if options["leads"] < 1:
            raise CommandError("--leads must be at least 1")
        faults = (
            {"callback_duplicate_rate": 0.1, "callback_reorder_rate": 0.1, "callback_drop_rate": 0.05}
            if options["faults"]
            else {}
        )
        simulator = TwilioSimulator(
            SimConfig(
                time_scale=options["time_scale"],
                outcomes={"completed": 7, "busy": 1, "no-answer": 1, "failed": 0.5},
                machine_rate=0.1,
                **faults,
            )
        ).start()
        server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler)
        server.set_app(WSGIHandler())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            self._configure(simulator=simulator, port=server.server_address[1])
            self._run(simulator=simulator, **options)
        finally:
            server.shutdown()
            simulator.stop()

    def _configure(self, *, simulator, port: int) -> None:
        settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{port}"
        settings.TWILIO_API_BASE_URL = simulator.base_url
        settings.TWILIO_ACCOUNT_SID = simulator.config.account_sid
        settings.TWILIO_AUTH_TOKEN = simulator.config.auth_token
        settings.TWILIO_FROM_NUMBER = SIM_FROM_NUMBER
        settings.OUTBOUND_DISPATCH = "inline"
        settings.OUTBOUND_RETRY_DELAY_SECONDS = 1
        settings.OUTBOUND_STUCK_CALL_SECONDS = 5
        settings.OUTBOUND_LOST_DIAL_SECONDS = 10
        settings.OUTBOUND_CALLING_HOURS_START = ""
        settings.OUTBOUND_CALLING_HOURS_END = ""

    def _run(self, *, simulator, leads: int, concurrency: int, timeout: float, **_options) -> None:
        stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
        business = business_create(name=f"Demo calls {stamp}")
        prefix = f"+9725{int(stamp[-7:]) % 1000:03d}"
        Lead.objects.bulk_create(
            Lead(business=business, phone=f"{prefix}{index:05d}", name=f"Demo lead {index}") for index in range(leads)
        )
        phones = set(business.leads.values_list("phone", flat=True))
        started = time.monotonic()
        run = services.outbound_run_start(
            business=business, selection={"filter": {}}, concurrency=concurrency, created_by=None
        )
        self.stdout.write(f"Run #{run.pk}: {run.total_leads} leads, {run.concurrency} at a time")
        last_tick = 0.0
        while time.monotonic() - started < timeout:
            run.refresh_from_db()
            progress = selectors.run_progress(run=run)
            self._bar(progress)
            if not run.is_active:
                break
            if time.monotonic() - last_tick >= 1:
                # What the schedules do every minute in production.
                services.calls_reconcile()
                services.runs_tick()
                last_tick = time.monotonic()
            time.sleep(0.2)
        self.stdout.write("")
        elapsed = time.monotonic() - started
        connection.close()
        self._summary(run=run, phones=phones, simulator=simulator, elapsed=elapsed)

    def _bar(self, progress: dict, width: int = 40) -> None:
        total = progress["total_leads"] or 1
        done = progress["completed"] + progress["failed"] + progress["canceled"] + progress["skipped"]
        filled = int(width * done / total)
        self.stdout.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
            f"in progress {progress['in_progress']}  queued {progress['queued']}  ({progress['status']})   ",
            ending="",
        )
        self.stdout.flush()

    def _summary(self, *, run, phones, simulator, elapsed: float) -> None:
        run.refresh_from_db()
        calls = OutboundCallJob.objects.filter(run=run)
        outcomes = Counter(calls.values_list("outcome", flat=True))
        sim_calls = simulator.calls()
        self.stdout.write(f"Run #{run.pk} {run.status} in {elapsed:.1f} s")
        for outcome, count in sorted(outcomes.items(), key=lambda item: -item[1]):
            self.stdout.write(f"  {outcome or '(none)':<12} {count}")
        placed = sum(1 for call in sim_calls if call["to"] in phones)
        self.stdout.write(f"Calls placed at the simulator: {placed} (retries of busy / no-answer included)")
        overlap = max_overlap(sim_calls, to_numbers=phones)
        self.stdout.write(f"Max concurrency observed by the simulator: {overlap} (cap {run.concurrency})")
        if overlap > run.concurrency:
            raise CommandError("The simulator saw more calls at once than the run allows.")
