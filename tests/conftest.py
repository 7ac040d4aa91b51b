import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import BusinessFactory, MembershipFactory

pytest_plugins = [
    "tests.plugins.twilio_sim",
    "tests.plugins.leads",
    "tests.plugins.outbound",
    "tests.plugins.recordings",
    "tests.plugins.browser",
]

ON_SQLITE = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "postgresql(reason): needs PostgreSQL (real row locks, concurrency, its catalog or SQL); "
        "skipped on SQLite with the reason",
    )


# Whole modules that race real transactions against each other: SQLite serialises writers
# at BEGIN IMMEDIATE, so there is no race for them to lose there.
POSTGRESQL_ONLY_MODULES = {
    "test_concurrency.py": "concurrent transactions against real row locks",
    "test_job_guard_concurrency.py": "concurrent transactions against real row locks",
}


def pytest_collection_modifyitems(config, items):
    if not ON_SQLITE:
        return
    for item in items:
        marker = item.get_closest_marker("postgresql")
        reason = POSTGRESQL_ONLY_MODULES.get(item.path.name)
        if marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "needs PostgreSQL")
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"PostgreSQL only: {reason}"))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # The embedded default under test as scripts/run uses it: a SQLite file (WAL, IMMEDIATE
    # transactions from settings), not Django's in-memory test database.
    database = settings.DATABASES["default"]
    if ON_SQLITE and database["NAME"] != ":memory:":
        database.setdefault("TEST", {})["NAME"] = f"{database['NAME']}.test"


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """Throttle and lockout counters live in the cache, recently served recordings in the
    process: each test starts with none."""
    from django.core.cache import cache

    from recordings.services import ready_recordings

    cache.clear()
    ready_recordings.clear()
    yield
    cache.clear()
    ready_recordings.clear()


@pytest.fixture(autouse=True)
def _dial_spacing_of_its_own(monkeypatch):
    """Dials in this process read no CPU pressure: the machine running the suite is not a host
    under test, and one test's spacing is not the next one's (tests/ops/test_cpu_pressure.py
    installs the pressure it needs)."""
    from callcenter.ops import cpu_pressure

    unavailable = cpu_pressure.CpuPressure(path="/nonexistent/pressure/cpu")
    monkeypatch.setattr(cpu_pressure, "_dial_spacing", cpu_pressure.DialSpacing(pressure=unavailable))


@pytest.fixture
def business(db):
    return BusinessFactory()


@pytest.fixture
def other_business(db):
    return BusinessFactory()


@pytest.fixture
def member(business):
    return MembershipFactory(business=business).user


@pytest.fixture
def api(member):
    client = APIClient()
    client.force_authenticate(member)
    return client


@pytest.fixture
def other_api(other_business):
    client = APIClient()
    client.force_authenticate(MembershipFactory(business=other_business).user)
    return client
