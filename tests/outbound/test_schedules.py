from django.utils.module_loading import import_string

from callcenter.schedules import schedule_definitions


def test_reconciler_and_safety_tick_are_scheduled_every_minute():
    ours = {d["name"]: d for d in schedule_definitions() if d["func"].startswith("outbound.")}
    assert set(ours) == {"outbound_reconcile_calls", "outbound_fill_active_runs"}
    for definition in ours.values():
        assert callable(import_string(definition["func"])) and definition["minutes"] == 1
