"""/healthz, /readyz and /metrics: no login, no tenant data."""

from __future__ import annotations

import glob
import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from callcenter.ops import health
from callcenter.ops.collectors import DatabaseStateCollector


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers; nothing behind it is consulted."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = health.readiness()
    failing = [name for name, result in checks.items() if result != "ok"]
    body = {"status": "ok" if not failing else "unavailable", "checks": checks}
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=200 if not failing else 503)


class _MultiProcessFiles:
    """The counters of every process that wrote to one of the directories (gunicorn workers
    in one, django-q2 workers in another), added up."""

    def __init__(self, directories: list[str]):
        self.directories = directories

    def collect(self):
        files = [path for directory in self.directories for path in glob.glob(os.path.join(directory, "*.db"))]
        return MultiProcessCollector.merge(files, accumulate=True)


def _metrics_directories() -> list[str]:
    own = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    listed = [d for d in settings.METRICS_MULTIPROC_DIRS if d]
    return listed or ([own] if own else [])


def metrics_exposition() -> bytes:
    directories = _metrics_directories()
    state = CollectorRegistry(auto_describe=False)
    state.register(DatabaseStateCollector())
    if directories:
        counted = CollectorRegistry(auto_describe=False)
        counted.register(_MultiProcessFiles(directories))
        return generate_latest(counted) + generate_latest(state)
    return generate_latest(REGISTRY) + generate_latest(state)


def metrics_access_allowed(request: HttpRequest) -> bool:
    """With METRICS_TOKEN set, only `Authorization: Bearer <token>`; without it, only
    clients in METRICS_ALLOWED_NETWORKS (loopback by default)."""
    token = settings.METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "")
        return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in settings.METRICS_ALLOWED_NETWORKS)


def client_address(request: HttpRequest) -> str:
    """The client's address as the throttles see it: behind DJANGO_NUM_PROXIES proxies, the
    X-Forwarded-For entry the outermost trusted proxy added (gunicorn on a unix socket has no
    peer address of its own); otherwise the connection's peer."""
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        addresses = [part.strip() for part in forwarded.split(",")]
        return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR", "")


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_access_allowed(request):
        # 404 rather than 403: the endpoint does not advertise itself to strangers.
        return HttpResponse(status=404)
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
