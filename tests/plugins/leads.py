"""pytest fixtures shared across the suite (leads)."""

import factory
import pytest
from django.db import connection

from leads.models import Lead
from tests.factories import BusinessFactory


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    business = factory.SubFactory(BusinessFactory)
    phone = factory.Sequence(lambda n: f"+97250{n:07d}")
    name = factory.Sequence(lambda n: f"Lead {n}")


def insert_leads(business, count: int, *, status: str = "new", first_number: int = 0, lead_import=None) -> None:
    """Many leads at once: +97252NNNNNNN numbered from first_number (PostgreSQL: one
    INSERT ... SELECT; SQLite: bulk_create)."""
    if connection.vendor != "postgresql":
        numbers = range(first_number, first_number + count)
        Lead.objects.bulk_create(
            [
                Lead(
                    business=business, phone=f"+97252{n:07d}", name=f"Lead {n}", status=status, lead_import=lead_import
                )
                for n in numbers
            ],
            batch_size=5000,
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO leads (business_id, phone, name, email, custom_fields, status, do_not_call,
                               lead_import_id, created_at, updated_at)
            SELECT %s, '+97252' || lpad(n::text, 7, '0'), 'Lead ' || n, '', '{}'::jsonb, %s, false,
                   %s, now(), now()
            FROM generate_series(%s, %s) AS n
            """,
            [business.pk, status, getattr(lead_import, "pk", None), first_number, first_number + count - 1],
        )


@pytest.fixture
def lead_factory(db):
    return LeadFactory


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
