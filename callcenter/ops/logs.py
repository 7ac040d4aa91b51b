"""Identifiers that travel with every log line: request id, business, run, job, call SID.

They live in context variables, bound where the code learns them (the request middleware,
tenancy, the Twilio webhook decorator, the start of a django-q2 task), and `ContextFilter`
copies them onto each log record. With LOG_FORMAT=json the records are written as one JSON
object a line (python-json-logger), the identifiers as fields; plain text stays the
default for development.
"""

from __future__ import annotations

import contextvars
import inspect
import logging

CONTEXT_FIELDS = ("request_id", "business_id", "run_id", "job_id", "call_sid", "task")

_EMPTY: dict = {}
# Never mutated: bind() sets a new dict, so one context's ids never leak into another's.
_context: contextvars.ContextVar[dict] = contextvars.ContextVar("callcenter_log_context", default=_EMPTY)


def bind(**fields) -> None:
    """Add identifiers to the current context (None values are ignored)."""
    known = {key: value for key, value in fields.items() if value not in (None, "")}
    if known:
        _context.set({**_context.get(), **known})


def clear() -> None:
    _context.set({})


def current() -> dict:
    return dict(_context.get())


class ContextFilter(logging.Filter):
    """Copies the bound identifiers onto the record; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def bind_webhook_context(request) -> None:
    """Twilio's callbacks name the call (CallSid) and our URLs name the call job."""
    bind(
        call_sid=request.POST.get("CallSid") if request.method == "POST" else None,
        job_id=_int_or_none(request.GET.get("job_id")),
        business_id=_int_or_none(request.GET.get("business_id")),
    )


def bind_task_context(sender, func=None, task=None, **kwargs) -> None:
    """django-q2 pre_execute: a fresh context per task, with the ids its arguments name."""
    clear()
    task = task or {}
    name = getattr(func, "__name__", None) or str(task.get("func", ""))
    fields = {"task": name}
    if callable(func):
        try:
            arguments = inspect.signature(func).bind_partial(*task.get("args", ()), **task.get("kwargs", {})).arguments
        except (TypeError, ValueError):
            arguments = dict(task.get("kwargs", {}))
        for key in ("run_id", "job_id", "call_sid", "business_id"):
            if key in arguments:
                fields[key] = arguments[key]
    bind(**fields)
