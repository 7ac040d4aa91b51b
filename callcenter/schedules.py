"""The django-q2 schedules the system relies on, registered by `manage.py setup_schedules`.

Every installed app may have a `schedules` module with a SCHEDULES list; registering is
idempotent (keyed by name), so the run command calls it at every start.
"""

from importlib import import_module

from django.apps import apps
from django_q.models import Schedule

SCHEDULES: list[dict] = [
    {
        "name": "fail_stale_background_jobs",
        "func": "callcenter.tasks.fail_stale_background_jobs",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    },
]


def schedule_definitions() -> list[dict]:
    definitions = []
    for config in apps.get_app_configs():
        module_name = f"{config.name}.schedules"
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as missing:
            if missing.name == module_name:
                continue
            raise
        definitions.extend(getattr(module, "SCHEDULES", []))
    return definitions


def schedules_ensure() -> list[Schedule]:
    """Create or update every schedule by name; running it twice changes nothing."""
    ensured = []
    for definition in schedule_definitions():
        values = {key: value for key, value in definition.items() if key != "name"}
        values.setdefault("repeats", -1)
        schedule, _created = Schedule.objects.update_or_create(name=definition["name"], defaults=values)
        ensured.append(schedule)
    return ensured
