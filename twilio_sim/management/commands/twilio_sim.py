import json
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from twilio_sim import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, SimConfig, TwilioSimulator
from twilio_sim.config import CALL_OUTCOMES, RATE_LIMIT_MODES


def _outcomes(value: str) -> dict[str, float]:
    """``completed=8,busy=1,no-answer=1`` -> weights."""
    weights = {}
    for part in value.split(","):
        name, _, weight = part.strip().partition("=")
        if name not in CALL_OUTCOMES:
            raise CommandError(f"unknown outcome {name!r}; use {', '.join(CALL_OUTCOMES)}")
        try:
            weights[name] = float(weight or 1)
        except ValueError:
            raise CommandError(f"outcome weight of {name!r} is not a number: {weight!r}")
    return weights


def _duration(value: str) -> float | tuple[float, float]:
    """``10`` or a range ``5-20`` (simulated seconds)."""
    try:
        low, separator, high = value.partition("-")
        return (float(low), float(high)) if separator else float(low)
    except ValueError:
        raise CommandError(f"not a duration or range: {value!r}")


class Command(BaseCommand):
    help = (
        "Run the local Twilio simulator: Twilio's Calls/Recordings REST subset on 127.0.0.1 with "
        "signed status callbacks. It accepts TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN of the settings "
        "(its own defaults when unset). Settings can change at runtime with POST /_sim/config."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8010)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per real second")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--outcomes", type=_outcomes, default=None, help="e.g. completed=8,busy=1,no-answer=1,keypress=1"
        )
        parser.add_argument("--ring-delay-seconds", type=_duration, default=None)
        parser.add_argument("--answer-delay-seconds", type=_duration, default=None, help="e.g. 3 or 2-6")
        parser.add_argument("--talk-seconds", type=_duration, default=None, help="e.g. 10 or 5-30")
        parser.add_argument("--machine-rate", type=float, default=None)
        parser.add_argument("--keypress-digit", default=None, help="digit pressed by the keypress outcome (default 9)")
        parser.add_argument("--calls-per-second", type=float, default=None, help="account rate; default unlimited")
        parser.add_argument("--rate-limit-mode", choices=RATE_LIMIT_MODES, default=None)
        parser.add_argument("--config", default=None, help="JSON object of further SimConfig settings")

    def handle(self, *args, **options):
        changes = {
            "host": options["host"],
            "port": options["port"],
            "time_scale": options["time_scale"],
            "seed": options["seed"],
            "account_sid": settings.TWILIO_ACCOUNT_SID or SIM_ACCOUNT_SID,
            "auth_token": settings.TWILIO_AUTH_TOKEN or SIM_AUTH_TOKEN,
        }
        for name in (
            "outcomes",
            "ring_delay_seconds",
            "answer_delay_seconds",
            "talk_seconds",
            "machine_rate",
            "keypress_digit",
            "calls_per_second",
            "rate_limit_mode",
        ):
            if options[name] is not None:
                changes[name] = options[name]
        if options["config"]:
            try:
                extra = json.loads(options["config"])
            except ValueError as exc:
                raise CommandError(f"--config is not JSON: {exc}")
            if not isinstance(extra, dict):
                raise CommandError("--config must be a JSON object")
            changes.update(extra)
        try:
            config = SimConfig().with_changes(**changes)
        except (TypeError, ValueError) as exc:
            raise CommandError(str(exc))

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        simulator = TwilioSimulator(config)
        try:
            simulator.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {config.host}:{config.port}: {exc}")
        self.stdout.write(
            f"Twilio simulator on {simulator.base_url} (account {config.account_sid}, time scale {config.time_scale}x)",
        )
        self.stdout.flush()
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            simulator.stop()
            self.stdout.write("Twilio simulator stopped")
