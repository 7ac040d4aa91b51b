"""The `__any` lookup: one parameter (an array on PostgreSQL, a JSON array read by
json_each on SQLite), the same rows as `__in`."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Lead
from tests.plugins.leads import insert_leads

pytestmark = pytest.mark.django_db


def test_any_matches_what_in_matches_with_one_parameter(business, other_business):
    insert_leads(business, 30)
    insert_leads(other_business, 5, first_number=500)
    ids = list(Lead.objects.order_by("id").values_list("id", flat=True))[::2]
    with CaptureQueriesContext(connection) as queries:
        found = set(Lead.objects.filter(pk__any=ids).values_list("id", flat=True))
    assert found == set(Lead.objects.filter(pk__in=ids).values_list("id", flat=True))
    sql = queries[0]["sql"]
    if connection.vendor == "postgresql":
        assert "= ANY(" in sql
    else:
        # The one parameter is inlined into the logged SQL: no placeholder list per id.
        assert "IN (SELECT value FROM json_each('[" in sql and "?" not in sql


def test_any_on_a_foreign_key_with_strings_and_an_empty_list(business, other_business):
    insert_leads(business, 3)
    assert Lead.objects.filter(business_id__any=[str(business.pk)]).count() == 3
    assert Lead.objects.filter(business__any=[other_business.pk]).count() == 0
    assert not Lead.objects.filter(pk__any=[]).exists()
    assert Lead.objects.exclude(pk__any=[]).count() == 3


def test_any_ignores_none_like_in_and_prepares_other_types(business):
    insert_leads(business, 4)
    leads = list(Lead.objects.order_by("id"))
    assert Lead.objects.exclude(pk__any=[leads[0].pk, None]).count() == 3
    assert Lead.objects.filter(pk__any=[None]).count() == 0
    assert Lead.objects.filter(business__any=[business]).count() == 4
    assert Lead.objects.filter(phone__any=[leads[1].phone, 5]).get() == leads[1]
    assert Lead.objects.filter(created_at__any=[leads[2].created_at]).count() >= 1
