"""Production is not development: a documented environment passes `check --deploy`, a
missing secret key stops the server, logins and tokens are throttled, passwords are checked."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import MembershipFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent.parent

# The production environment docs/deploy.md documents.
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "calls.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://calls.example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SECURE_COOKIES": "1",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "1",
    "DJANGO_NUM_PROXIES": "1",
}


def _manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    base["DJANGO_SETTINGS_MODULE"] = "callcenter.settings"
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_under_the_documented_production_environment():
    result = _manage("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_documented_production_environment_is_the_one_in_the_docs():
    documented = (ROOT / "docs" / "deploy.md").read_text()
    for name in PRODUCTION_ENV:
        assert name in documented, name


def test_server_refuses_to_start_without_a_secret_key_when_debug_is_off():
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != "DJANGO_SECRET_KEY"}
    result = _manage("-c", "import callcenter.wsgi", env=env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    deploy = _manage("manage.py", "check", "--deploy", env=env)
    assert deploy.returncode != 0 and "callcenter.E001" in deploy.stderr + deploy.stdout


def test_server_starts_with_a_secret_key():
    result = _manage("-c", "import callcenter.wsgi", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr


def test_a_starting_worker_loads_the_views_before_its_first_request():
    # Twilio's first callbacks after a restart must not wait for the URLconf's imports.
    views = ("outbound.webhooks", "recordings.api")
    loaded = f"import sys, callcenter.wsgi; print(all(m in sys.modules for m in {views}))"
    result = _manage("-c", loaded, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_testserver_is_not_an_allowed_host_outside_tests():
    result = _manage(
        "-c", "import django; django.setup(); from django.conf import settings; print(settings.ALLOWED_HOSTS)", env={}
    )
    assert "testserver" not in result.stdout and "localhost" in result.stdout


@pytest.mark.parametrize("password", ["password", "12345678", "qwertyuiop", "1234567890123"])
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


def test_a_strong_password_passes():
    validate_password("correct-horse-battery-staple-42")


@pytest.mark.django_db
def test_wrong_tokens_lock_the_client_out_with_429_json(business):
    member = MembershipFactory(business=business).user
    token = Token.objects.create(user=member)
    client = APIClient()
    statuses = []
    for attempt in range(25):
        client.credentials(HTTP_AUTHORIZATION=f"Token wrong-{attempt}")
        statuses.append(client.get("/api/leads").status_code)
    assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    locked = client.get("/api/leads")
    assert locked.status_code == 429 and locked.json()["code"] == "throttled" and locked["Retry-After"]
    other_ip = APIClient(REMOTE_ADDR="10.9.8.7")
    other_ip.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert other_ip.get("/api/leads").status_code == 200


@pytest.mark.django_db
def test_per_user_and_per_ip_rates_answer_429_json(business, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "5/min", "anon": "3/min"},
    )
    member = MembershipFactory(business=business).user
    client = APIClient()
    client.force_authenticate(member)
    statuses = [client.get("/api/leads").status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    throttled = client.get("/api/leads")
    assert throttled.json()["code"] == "throttled" and int(throttled["Retry-After"]) > 0
    anonymous = APIClient()
    assert [anonymous.get("/api/jobs").status_code for _ in range(4)] == [401, 401, 401, 429]


@pytest.mark.django_db
def test_repeated_failed_admin_logins_are_locked_out(client):
    user = UserFactory(is_staff=True)
    statuses = [
        client.post("/admin/login/", {"username": user.username, "password": "wrong"}).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    locked = client.post("/admin/login/", {"username": user.username, "password": "secret-pass-123"})
    assert locked.status_code == 429
