"""Helpers for the statements of the per-call path, which are written in SQL.

Every call runs about a dozen statements (claim, dial, two callbacks); building each one
through the ORM cost more than running it (bench/outbound_calls.py). The SQL stays portable
to SQLite, the embedded default: row locks only where the backend has them (SQLite
serialises writers at BEGIN IMMEDIATE instead), and values adapted by their model fields.
"""

from django.db import connection
from django.db.models import Model


def locking(clause: str) -> str:
    """`clause` (FOR UPDATE ...) where the backend locks rows, nothing elsewhere."""
    return f" {clause}" if connection.features.has_select_for_update else ""


def db_datetime(value):
    return connection.ops.adapt_datetimefield_value(value)


def row_update(model: type[Model], *, pk: int, changes: dict) -> int:
    """UPDATE one row by primary key with field values, as QuerySet.update would."""
    assignments, params = [], []
    for name, value in changes.items():
        field = model._meta.get_field(name)
        assignments.append(f"{connection.ops.quote_name(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    # Only the model's own table and column names are spliced in; every value is a parameter.
    sql = f"UPDATE {connection.ops.quote_name(model._meta.db_table)} SET {', '.join(assignments)} WHERE id = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, pk])
        return cursor.rowcount
