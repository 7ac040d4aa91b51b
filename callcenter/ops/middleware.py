"""Per-request context and timing: request id, log identifiers, latency by route."""

from __future__ import annotations

import logging
import re
import time
import uuid

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _

from callcenter.ops import logs, metrics

logger = logging.getLogger("callcenter.requests")

REQUEST_ID_HEADER = "X-Request-ID"
# A client-supplied id is kept only when it is short and harmless in a log line.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Requests that would only add noise to the access log.
_QUIET_ROUTES = frozenset({"healthz", "readyz", "metrics"})


def request_id_for(request) -> str:
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    return supplied if _ACCEPTABLE_REQUEST_ID.match(supplied) else uuid.uuid4().hex


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    # The pattern, never the path: a path carries call SIDs and ids.
    return match.route or match.view_name or "unmatched"


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class RequestContextMiddleware:
    """Binds a request id (from X-Request-ID or made here) for the logs, answers with it,
    and observes the request's latency by URL pattern, method and status class."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        logs.clear()
        request_id = request_id_for(request)
        request.request_id = request_id
        logs.bind(request_id=request_id)
        try:
            response = self._too_large(request) or self.get_response(request)
            elapsed = time.perf_counter() - started
            route = _route(request)
            status_class = f"{response.status_code // 100}xx"
            metrics.REQUEST_LATENCY.labels(route=route, method=request.method, status=status_class).observe(elapsed)
            response[REQUEST_ID_HEADER] = request_id
            url_name = getattr(getattr(request, "resolver_match", None), "url_name", None)
            if settings.LOG_REQUESTS and url_name not in _QUIET_ROUTES:
                logger.info(
                    "%s %s %s %.1f ms",
                    request.method,
                    route,
                    response.status_code,
                    elapsed * 1000,
                    extra={
                        "method": request.method,
                        "route": route,
                        "status": response.status_code,
                        "duration_ms": round(elapsed * 1000, 1),
                    },
                )
            return response
        finally:
            logs.clear()

    @staticmethod
    def _too_large(request):
        """413 before anything reads a body over UPLOAD_MAX_BYTES (nginx says the same in front)."""
        if _declared_length(request) <= settings.UPLOAD_MAX_BYTES:
            return None
        message = _("The request is too large: at most %(megabytes)s MB may be sent.") % {
            "megabytes": settings.UPLOAD_MAX_BYTES // (1024 * 1024)
        }
        return JsonResponse({"error": message, "code": "request_too_large"}, status=413)
