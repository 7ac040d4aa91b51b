"""What a production server must have before it serves anyone."""

import os

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

REFUSAL_MESSAGE = (
    "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off: refusing to start with the development key, "
    "which anyone can read in the source. Set DJANGO_SECRET_KEY to a long random value "
    "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), see docs/deploy.md."
)


def secret_key_problem() -> str | None:
    if settings.DEBUG:
        return None
    if not os.environ.get("DJANGO_SECRET_KEY") or settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY:
        return REFUSAL_MESSAGE
    return None


def require_production_secret_key() -> None:
    """Called by the WSGI entry point: a server with debug off never starts on the development key."""
    problem = secret_key_problem()
    if problem:
        raise ImproperlyConfigured(problem)


@register(Tags.security, deploy=True)
def check_secret_key(app_configs, **kwargs):
    problem = secret_key_problem()
    return [Error(problem, id="callcenter.E001")] if problem else []
