"""Hooks installed once per process (from CallcenterConfig.ready)."""

from __future__ import annotations

import time

from django.db.backends.signals import connection_created
from django_q.signals import pre_execute

from callcenter.ops import logs, metrics

_STATEMENTS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT", "COPY", "WITH"})


def _statement_kind(sql) -> str:
    if not isinstance(sql, str):
        return "other"
    word = sql.lstrip()[:7].split(None, 1)[0].upper() if sql.strip() else ""
    return word if word in _STATEMENTS else "other"


# The histogram of each (alias, statement kind), looked up once: labels() takes a lock and
# builds its key on every call, and every SQL statement of the process comes through here.
_query_histograms: dict[tuple[str, str], object] = {}


def _query_histogram(alias: str, kind: str):
    histogram = _query_histograms.get((alias, kind))
    if histogram is None:
        histogram = _query_histograms.setdefault(
            (alias, kind), metrics.DB_QUERY_LATENCY.labels(alias=alias, statement=kind)
        )
    return histogram


def _timed_query(execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        _query_histogram(context["connection"].alias, _statement_kind(sql)).observe(time.perf_counter() - started)


def _time_queries_of(sender, connection, **kwargs) -> None:
    # The wrapper object outlives reconnections: install the timer once per wrapper.
    if _timed_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(_timed_query)


def install() -> None:
    connection_created.connect(_time_queries_of, dispatch_uid="callcenter.ops.db_timing")
    pre_execute.connect(logs.bind_task_context, dispatch_uid="callcenter.ops.task_context")
