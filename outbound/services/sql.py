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


def row_update_statement(model: type[Model], *, pk: int, changes: dict) -> tuple[str, list]:
    """UPDATE one row by primary key with field values, as QuerySet.update would."""
    assignments, params = [], []
    for name, value in changes.items():
        field = model._meta.get_field(name)
        assignments.append(f"{connection.ops.quote_name(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    # Only the model's own table and column names are spliced in; every value is a parameter.
    sql = f"UPDATE {connection.ops.quote_name(model._meta.db_table)} SET {', '.join(assignments)} WHERE id = %s"  # noqa: S608
    return sql, [*params, pk]


def row_update(model: type[Model], *, pk: int, changes: dict) -> int:
    sql, params = row_update_statement(model, pk=pk, changes=changes)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def execute_together(statements: list[tuple[str, list]]) -> None:
    """Run data-changing statements as one step of the per-call path.

    On PostgreSQL they are sent as one statement (all but the last as WITH clauses): one
    round trip, however many tables change. They must not read each other's changes: they
    all see the rows as they were before it. Elsewhere they run one after another, in order.
    """
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql" or len(statements) == 1:
            for sql, params in statements:
                cursor.execute(sql, params)
            return
        *first, (last_sql, last_params) = statements
        clauses = ", ".join(f"change_{index} AS ({sql})" for index, (sql, _params) in enumerate(first))
        cursor.execute(
            f"WITH {clauses} {last_sql}", [value for _sql, params in first for value in params] + list(last_params)
        )


def rows_as(cursor, record: type) -> list:
    """The fetched rows as `record` instances, each field taken from the column of its name.

    Columns are matched by name (give computed ones an alias), never by position, so a
    column added to a query cannot shift the fields after it; a field the query does not
    select is an error, a selected column the record does not name is ignored.
    """
    names = [column[0] for column in cursor.description]
    wanted = record.__dataclass_fields__.keys()
    missing = wanted - set(names)
    if missing:
        raise LookupError(f"{record.__name__}: the query selects no {', '.join(sorted(missing))}")
    return [record(**{name: value for name, value in zip(names, row, strict=True) if name in wanted}) for row in cursor]


def row_as(cursor, record: type):
    """The one fetched row as `record` (see rows_as), or None when there is none."""
    rows = rows_as(cursor, record)
    return rows[0] if rows else None
