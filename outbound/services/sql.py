"""Helpers for the statements of the per-call path, which are written in SQL.

Every call runs about a dozen statements (claim, dial, two callbacks); building each one
through the ORM cost more than running it (bench/outbound_calls.py). The SQL stays portable
to SQLite, the embedded default: row locks only where the backend has them (SQLite
serialises writers at BEGIN IMMEDIATE instead), and values adapted by their model fields.

On PostgreSQL they run through statement_cursor(), which prepares each on its connection
(planning them on every call cost more than running them), and rows are read by column
name straight from the result (rows_as).
"""

from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model

try:
    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, register_tzloader
    from psycopg import ClientCursor
    from psycopg import Cursor as ServerBindingCursor
    from psycopg.pq import Format
except ImportError:  # SQLite only: no psycopg installed
    ClientCursor = ServerBindingCursor = None

if ServerBindingCursor is not None:

    class PreparedStatementCursor(ServerBindingCursor):
        """Binds values on the server, and prepares each statement on its connection the
        first time it runs there: from then on PostgreSQL only binds and executes it."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

        def _send_query_prepared(self, name, pgq, *, binary=None):
            # psycopg keeps the query it ran only when it sends its text; Django's query log
            # (DEBUG, the test suite's query captures) reads it (last_executed_query).
            self._query = pgq
            return super()._send_query_prepared(name, pgq, binary=binary)


_NEVER_BY_COUNT = 2**62


def prepares_statements(db=None) -> bool:
    """Whether statement_cursor() prepares its statements (PostgreSQL with
    DATABASE_PREPARED_STATEMENTS on)."""
    db = db or connections[DEFAULT_DB_ALIAS]
    return ServerBindingCursor is not None and db.vendor == "postgresql" and settings.DATABASE_PREPARED_STATEMENTS


def statement_cursor():
    """A cursor for the per-call path's own statements (use it as connection.cursor() is).

    On PostgreSQL each statement is prepared on the connection the first time it runs
    there (unless DATABASE_PREPARED_STATEMENTS is off, as a transaction pooler before
    PgBouncer 1.21 needs): these few statements run for every call, and planning them
    each time cost PostgreSQL more than running them. It is Django's cursor wrapper all
    the same, so the execute wrappers (metrics), error translation and query log apply.
    """
    db = connections[DEFAULT_DB_ALIAS]  # the connection of this thread, looked up once
    if not prepares_statements(db):
        return db.cursor()
    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors:
        raw = db.connection
        if raw.prepare_threshold is None:
            # psycopg prepares nothing on a connection without a threshold (Django's default,
            # for poolers), even when asked. A threshold no query reaches: only these
            # statements, which ask, are prepared; Django's own cursors bind on the client
            # and never prepare whatever the threshold.
            raw.prepare_threshold = _NEVER_BY_COUNT
        cursor = PreparedStatementCursor(raw)
        # As Django's own cursors: the session's time zone only where the connection's differs.
        if db.timezone != raw.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT).timezone:
            register_tzloader(db.timezone, cursor)
        db.validate_thread_sharing()
        return db.make_debug_cursor(cursor) if db.queries_logged else db.make_cursor(cursor)


# Makes the transaction it runs in commit without waiting for its WAL flush (PostgreSQL).
_NO_FLUSH_WAIT = "set_config('synchronous_commit', 'off', true)"


def no_flush_wait_column() -> str:
    """A column for a SELECT that lets its transaction commit without waiting for its WAL
    flush (PostgreSQL; nothing elsewhere). Asked for inside the statement, it costs no round trip."""
    return f", {_NO_FLUSH_WAIT} AS no_flush_wait" if connection.vendor == "postgresql" else ""


def no_flush_wait_from() -> str:
    """The same as no_flush_wait_column, as the FROM item of an UPDATE."""
    return f" FROM (SELECT {_NO_FLUSH_WAIT}) AS no_flush_wait" if connection.vendor == "postgresql" else ""


def locking(clause: str) -> str:
    """`clause` (FOR UPDATE ...) where the backend locks rows, nothing elsewhere."""
    return f" {clause}" if connection.features.has_select_for_update else ""


def db_datetime(value):
    return connection.ops.adapt_datetimefield_value(value)


@lru_cache(maxsize=256)
def _row_update_sql(model: type[Model], names: tuple[str, ...], vendor: str) -> tuple[str, tuple]:
    """The UPDATE of these fields of one row, and the fields; built once per shape."""
    fields = tuple(model._meta.get_field(name) for name in names)
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    # Only the model's own table and column names are spliced in; every value is a parameter.
    return f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE id = %s", fields  # noqa: S608


def row_update_statement(model: type[Model], *, pk: int, changes: dict) -> tuple[str, list]:
    """UPDATE one row by primary key with field values, as QuerySet.update would."""
    sql, fields = _row_update_sql(model, tuple(changes), connection.vendor)
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, changes.values(), strict=True)]
    return sql, [*params, pk]


def row_update(model: type[Model], *, pk: int, changes: dict) -> int:
    sql, params = row_update_statement(model, pk=pk, changes=changes)
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def execute_together(statements: list[tuple[str, list]]) -> None:
    """Run data-changing statements as one step of the per-call path.

    On PostgreSQL they are sent as one statement (all but the last as WITH clauses): one
    round trip, however many tables change. They must not read each other's changes: they
    all see the rows as they were before it. Elsewhere they run one after another, in order.
    """
    with statement_cursor() as cursor:
        if connection.vendor != "postgresql" or len(statements) == 1:
            for sql, params in statements:
                cursor.execute(sql, params)
            return
        *first, (last_sql, last_params) = statements
        clauses = ", ".join(f"change_{index} AS ({sql})" for index, (sql, _params) in enumerate(first))
        cursor.execute(
            f"WITH {clauses} {last_sql}", [value for _sql, params in first for value in params] + list(last_params)
        )


def column_names(cursor) -> tuple[str, ...]:
    """The names of the columns of the statement just run.

    On PostgreSQL straight from the result (psycopg's `description` builds a Column object
    for each, which cost more than reading the row).
    """
    result = getattr(cursor.cursor, "pgresult", None)
    if result is not None:
        return tuple(result.fname(index).decode() for index in range(result.nfields))
    return tuple(column[0] for column in cursor.description)


@lru_cache(maxsize=256)
def _record_columns(record: type, names: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """(field, column position) for each field of `record`, for rows with these columns."""
    wanted = record.__dataclass_fields__.keys()
    missing = wanted - set(names)
    if missing:
        raise LookupError(f"{record.__name__}: the query selects no {', '.join(sorted(missing))}")
    return tuple((name, index) for index, name in enumerate(names) if name in wanted)


def _record_of(record: type, columns: tuple[tuple[str, int], ...], row):
    return record(**{name: row[index] for name, index in columns})


def execute_in_turn(steps: list[tuple[str, list, Callable]]) -> list:
    """Run statements one after another, each seeing what the ones before it did and
    taking its locks after theirs, as separate execute() calls would. Each step is (sql,
    params, read): read(cursor) takes what the caller needs of that statement's result.
    Returns what each read returned.

    With prepared statements (statement_cursor), one execute each: binding and running
    a prepared statement costs PostgreSQL less than planning them all. Without, on
    PostgreSQL they go in one round trip: Django's psycopg cursor binds values on the
    client and sends the statements as one simple query, which PostgreSQL runs in order
    (each with a fresh snapshot, as separately sent statements would have). Elsewhere, or
    with OPTIONS["server_side_binding"], one execute each.
    """
    with statement_cursor() as cursor:
        if ClientCursor is None or not isinstance(cursor.cursor, ClientCursor) or len(steps) == 1:
            results = []
            for sql, params, read in steps:
                cursor.execute(sql, params)
                results.append(read(cursor))
            return results
        cursor.execute(
            ";\n".join(sql for sql, _params, _read in steps),
            [value for _sql, params, _read in steps for value in params],
        )
        results = []
        for index, (_sql, _params, read) in enumerate(steps):
            if index:
                cursor.nextset()
            results.append(read(cursor))
        return results


def rows_as(cursor, record: type) -> list:
    """The fetched rows as `record` instances, each field taken from the column of its name.

    Columns are matched by name (give computed ones an alias), never by position, so a
    column added to a query cannot shift the fields after it; a field the query does not
    select is an error, a selected column the record does not name is ignored.
    """
    columns = _record_columns(record, column_names(cursor))
    return [_record_of(record, columns, row) for row in cursor.fetchall()]


def rows_by_kind(cursor, records: dict[str, type], *, kind_column: str = "kind") -> dict[str, list]:
    """The fetched rows of a statement that returns several kinds of rows (a UNION ALL of
    them, say), each as the record of its kind (by column name, see rows_as); the column
    `kind_column` names the kind of each row."""
    names = column_names(cursor)
    kind_index = names.index(kind_column)
    columns = {kind: _record_columns(record, names) for kind, record in records.items()}
    found: dict[str, list] = {kind: [] for kind in records}
    for row in cursor.fetchall():
        kind = row[kind_index]
        found[kind].append(_record_of(records[kind], columns[kind], row))
    return found


def row_as_each(cursor, *records: type) -> tuple | None:
    """The one fetched row as each of `records` (by column name, see rows_as), or None."""
    names = column_names(cursor)
    row = cursor.fetchone()
    if row is None:
        return None
    return tuple(_record_of(record, _record_columns(record, names), row) for record in records)


def row_as(cursor, record: type):
    """The one fetched row as `record` (see rows_as), or None when there is none."""
    rows = rows_as(cursor, record)
    return rows[0] if rows else None
