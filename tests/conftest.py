import pytest
from rest_framework.test import APIClient

from tests.factories import BusinessFactory, MembershipFactory

pytest_plugins = [
    "tests.plugins.twilio_sim",
    "tests.plugins.leads",
    "tests.plugins.outbound",
    "tests.plugins.recordings",
]


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """Throttle and lockout counters live in the cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


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
