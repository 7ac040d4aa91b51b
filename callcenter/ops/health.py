"""Readiness: can this process serve, and is the machinery behind it alive?

Each check answers None when fine, or a short reason (an exception's class name, a count,
a number of seconds: never a server path, a secret or tenant data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from callcenter.ops.collectors import scheduler_overdue_seconds

logger = logging.getLogger(__name__)

_migrations_applied = False


def check_database() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return None


def check_broker() -> str | None:
    from django_q.brokers import get_broker

    broker = get_broker()
    if broker.ping() is False:
        return "ping failed"
    # The ORM broker answers ping without a query; a real read proves the queue is reachable.
    broker.queue_size()
    return None


def check_migrations() -> str | None:
    # Once applied they stay applied for this process's code: a new release restarts it.
    global _migrations_applied
    if _migrations_applied:
        return None
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        return f"{len(pending)} unapplied"
    _migrations_applied = True
    return None


def check_scheduler() -> str | None:
    from django_q.models import Schedule

    if not Schedule.objects.exists():
        return "no schedules registered"
    overdue = scheduler_overdue_seconds()
    if overdue > settings.READYZ_SCHEDULER_MAX_LAG_SECONDS:
        return f"last tick {int(overdue)} s overdue"
    return None


def check_qcluster() -> str | None:
    from django_q.status import Stat

    alive = [stat for stat in Stat.get_all() if getattr(stat, "status", None) not in ("Stopped", "Stopping")]
    if not alive:
        return "no cluster reporting"
    return None


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": check_database,
    "broker": check_broker,
    "migrations": check_migrations,
    "scheduler": check_scheduler,
    "qcluster": check_qcluster,
}


def readiness(checks: dict[str, Callable[[], str | None]] | None = None) -> dict[str, str]:
    """{check name: "ok" or why not}. A check that raises is failing, named by its error's class."""
    results = {}
    for name, check in (checks or CHECKS).items():
        if name in settings.READYZ_SKIP_CHECKS:
            continue
        try:
            problem = check()
        except Exception as exc:
            logger.warning("readiness check %s failed: %s", name, exc.__class__.__name__)
            problem = f"{exc.__class__.__name__}"
        results[name] = "ok" if problem is None else problem
    return results
