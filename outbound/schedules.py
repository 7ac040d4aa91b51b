from django_q.models import Schedule

SCHEDULES: list[dict] = [
    {
        "name": "outbound_reconcile_calls",
        "func": "outbound.tasks.reconcile_calls",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    },
    {
        # The safety tick: runs keep moving (retries fall due, lost fills are redone)
        # even when no callback arrives to trigger a fill.
        "name": "outbound_fill_active_runs",
        "func": "outbound.tasks.fill_active_runs",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    },
]
