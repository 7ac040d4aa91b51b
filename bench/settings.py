"""The project's settings plus bench.urls (Django's plain static file view for baselines)."""

from callcenter.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
