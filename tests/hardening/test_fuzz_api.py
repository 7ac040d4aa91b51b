"""Schemathesis against the live schema of a test server: every operation, every check, as
tenant A's user with real data of two tenants. 0 server errors, 0 conformance failures.

CI runs FUZZ_MAX_EXAMPLES examples per operation with the fixed FUZZ_SEED; a larger run on
demand (README, "Fuzzing"): FUZZ_MAX_EXAMPLES=500 FUZZ_SEED=$RANDOM scripts/test tests/hardening -k fuzz
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from tests.hardening.fuzz_world import fuzz_world_create

ROOT = Path(__file__).resolve().parent.parent.parent
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "10")
SEED = os.environ.get("FUZZ_SEED", "20261130")


@pytest.fixture
def unthrottled(monkeypatch):
    """The fuzzer is one user sending as fast as it can: rates out of its way (the throttles
    have their own tests)."""
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": None, "anon": None}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)


@pytest.mark.django_db(transaction=True)
def test_api_fuzz_finds_no_server_error_and_no_schema_violation(live_server, unthrottled, media_root, tmp_path):
    world = fuzz_world_create()
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{live_server.url}/api/schema/",
        "--checks",
        "all",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        "--workers",
        "1",
        "--header",
        f"Authorization: Token {world.token}",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    print(output[-3000:])
    assert result.returncode == 0, output[-30000:]
