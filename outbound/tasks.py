"""django-q2 entry points: thin adapters over services."""

from outbound import services


def fill_slots(run_id: int) -> int:
    return services.run_fill_from_queue(run_id=run_id)


def wake_run(run_id: int) -> int:
    return services.run_wake(run_id=run_id)


def reconcile_calls() -> dict:
    return services.calls_reconcile()


def fill_active_runs() -> int:
    return services.runs_tick()
