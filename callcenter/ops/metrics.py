"""The process's Prometheus counters and histograms.

Under gunicorn and django-q2 every process counts on its own; with PROMETHEUS_MULTIPROC_DIR
set (before this module is imported) prometheus-client keeps the values in files there and
`/metrics` adds them up across processes (see callcenter.ops.views). Gauges of current
state (calls in progress, runs and jobs by state, queue depth) are not kept here: they are
read from the database at scrape time (callcenter.ops.collectors), so every host agrees.

Labels are small fixed sets (webhook name, error class, job type, status, route pattern):
never a phone number, a call SID or any other per-call or per-tenant id.
"""

from __future__ import annotations

import requests
from prometheus_client import Counter, Histogram

DIALS_STARTED = Counter("callcenter_dials_started", "Outbound calls Twilio accepted (calls.create succeeded).")
DIALS_REFUSED = Counter(
    "callcenter_dials_refused", "Outbound calls Twilio refused (calls.create failed), by error class.", ["error_class"]
)
DIALS_HELD_SECONDS = Counter(
    "callcenter_dials_held_seconds",
    "Time dials waited for this host's CPU pressure to fall (OUTBOUND_DIAL_CPU_PRESSURE_LIMIT).",
)
TWILIO_ERRORS = Counter(
    "callcenter_twilio_errors",
    "Failed Twilio API requests, by operation and error class.",
    ["operation", "error_class"],
)
WEBHOOKS_RECEIVED = Counter(
    "callcenter_webhooks_received", "Twilio callbacks with a valid signature, by webhook.", ["webhook"]
)
WEBHOOKS_DUPLICATE = Counter(
    "callcenter_webhooks_duplicate", "Twilio callbacks already applied before (ignored), by webhook.", ["webhook"]
)
WEBHOOKS_REJECTED = Counter(
    "callcenter_webhooks_rejected", "Twilio callbacks refused for a missing or bad signature (403).", ["webhook"]
)
WEBHOOK_LATENCY = Histogram(
    "callcenter_webhook_duration_seconds",
    "Time to answer a signed Twilio callback, by webhook.",
    ["webhook"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REQUEST_LATENCY = Histogram(
    "callcenter_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL pattern, method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DB_QUERY_LATENCY = Histogram(
    "callcenter_db_query_duration_seconds",
    "Time of one SQL statement, by database alias and statement kind.",
    ["alias", "statement"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
JOBS_STARTED = Counter("callcenter_background_jobs_started", "Guarded background jobs created, by type.", ["job_type"])
JOBS_FINISHED = Counter(
    "callcenter_background_jobs_finished",
    "Guarded background jobs finished, by type and status.",
    ["job_type", "status"],
)
STALE_RECOVERED = Counter(
    "callcenter_stale_jobs_recovered",
    "Abandoned work failed so that it can be replaced: stale background jobs and stuck recording downloads.",
    ["kind"],
)
RECORDING_DOWNLOADS = Counter(
    "callcenter_recording_downloads", "Recording download runs finished, by result.", ["result"]
)

# Twilio error codes worth their own class; every other error falls in a generic one.
_INVALID_NUMBER_CODES = frozenset({13223, 13224, 21210, 21211, 21212, 21214, 21215, 21216, 21217, 21401, 21407})
_AUTH_CODES = frozenset({20003, 20005})


def twilio_error_class(error, *, cause: BaseException | None = None) -> str:
    """A small fixed vocabulary for a gateway error (rate_limited, server_error, timeout,
    connection, invalid_number, auth, not_found, client_error, other)."""
    code = getattr(error, "code", None)
    http_status = getattr(error, "http_status", None)
    if code == 20429 or http_status == 429:
        return "rate_limited"
    if http_status is not None and http_status >= 500:
        return "server_error"
    if isinstance(cause, requests.Timeout):
        return "timeout"
    if isinstance(cause, requests.RequestException):
        return "connection"
    if code in _INVALID_NUMBER_CODES:
        return "invalid_number"
    if code in _AUTH_CODES or http_status in (401, 403):
        return "auth"
    if http_status == 404:
        return "not_found"
    if http_status is not None and 400 <= http_status < 500:
        return "client_error"
    return "other"


def twilio_error_observe(*, operation: str, error, cause: BaseException | None = None) -> None:
    error_class = twilio_error_class(error, cause=cause)
    TWILIO_ERRORS.labels(operation=operation, error_class=error_class).inc()
    if operation == "calls.create":
        DIALS_REFUSED.labels(error_class=error_class).inc()


# Guarded-job models without a job_type of their own, by model name.
_JOB_TYPES_OF_MODELS = {"recordingrun": "recording_download"}
_STALE_KINDS_OF_MODELS = {"backgroundjob": "background_job", "recordingrun": "recording_download"}


def job_type_label(job) -> str:
    """A background job's type, or what another guarded job is (recording_download)."""
    model_name = job._meta.model_name
    return str(getattr(job, "job_type", "") or _JOB_TYPES_OF_MODELS.get(model_name, model_name))


def stale_kind_label(job) -> str:
    model_name = job._meta.model_name
    return _STALE_KINDS_OF_MODELS.get(model_name, model_name)


def count(counter, **labels) -> None:
    """Count a change as it is made. Counted in memory, not in the transaction: the rare
    change whose surrounding transaction rolls back afterwards stays counted."""
    (counter.labels(**labels) if labels else counter).inc()
