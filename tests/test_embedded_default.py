"""The embedded default (SQLite) as the SQLite run of the suite uses it: the database
scripts/run sets up on a fresh machine, a file in WAL mode with IMMEDIATE transactions."""

import sqlite3

import pytest
from django.db import connection, transaction

from tests.conftest import ON_SQLITE

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not ON_SQLITE, reason="checks the SQLite settings; this run uses PostgreSQL"),
]


def test_the_database_is_a_file_in_wal_mode():
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert "memory" not in str(connection.settings_dict["NAME"])


def test_a_transaction_takes_the_write_lock_when_it_begins():
    # What the no-op locking() relies on: two writers queue at BEGIN instead of one of them
    # failing halfway through with "database is locked".
    with transaction.atomic():
        other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0.05)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
    other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0.05)
    other.execute("BEGIN IMMEDIATE")
    other.rollback()
    other.close()
