"""Gap-free counters kept in a table row: outbox sequences per aggregate, voucher numbers."""
from __future__ import annotations

from sqlalchemy import bindparam

from hubkit.sql import dialect_insert

_statements: dict = {}  # (dialect, table) -> the statement, built once (its key given at execute)


def next_in_sequence(session, table, key: str) -> int:
    """Increment-and-read a counter row (first primary-key column = key, `last_sequence`) in one
    statement, creating it at 1: concurrent writers serialise on the row, the first two for a new
    key included (no unique violation), and numbers have no gaps."""
    dialect = session.get_bind().dialect.name
    statement = _statements.get((dialect, table))
    if statement is None:
        key_column = list(table.primary_key.columns)[0]
        statement = _statements[(dialect, table)] = (
            dialect_insert(session, table).values({key_column.name: bindparam("counter_key"), "last_sequence": 1})
            .on_conflict_do_update(index_elements=[key_column], set_={"last_sequence": table.c.last_sequence + 1})
            .returning(table.c.last_sequence))
    return int(session.execute(statement, {"counter_key": key}).scalar_one())
