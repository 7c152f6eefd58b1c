"""Gap-free counters kept in a table row: outbox sequences per aggregate, voucher numbers."""
from __future__ import annotations

from sqlalchemy import bindparam

from hubkit.sql import dialect_insert, once_per_dialect


@once_per_dialect
def _increment(session, table):
    """The counter's statement for `table`, its key given at execute."""
    key_column = list(table.primary_key.columns)[0]
    return (dialect_insert(session, table).values({key_column.name: bindparam("counter_key"), "last_sequence": 1})
            .on_conflict_do_update(index_elements=[key_column], set_={"last_sequence": table.c.last_sequence + 1})
            .returning(table.c.last_sequence))


@once_per_dialect
def _advance(session, table):
    """The counter's statement for `table` moving it by a step given at execute."""
    key_column = list(table.primary_key.columns)[0]
    insert = dialect_insert(session, table).values({key_column.name: bindparam("counter_key"),
                                                    "last_sequence": bindparam("counter_step")})
    return (insert.on_conflict_do_update(index_elements=[key_column],
                                         set_={"last_sequence": table.c.last_sequence + insert.excluded.last_sequence})
            .returning(table.c.last_sequence))


def next_in_sequence(session, table, key: str, count: int = 1) -> int:
    """Increment-and-read a counter row (first primary-key column = key, `last_sequence`) in one
    statement, creating it at 1: concurrent writers serialise on the row, the first two for a new
    key included (no unique violation), and numbers have no gaps. `count` > 1 takes that many
    numbers at once: the last is returned, the batch's are the `count` up to it."""
    if count == 1:
        return int(session.execute(_increment(session, table), {"counter_key": key}).scalar_one())
    return int(session.execute(_advance(session, table), {"counter_key": key, "counter_step": count}).scalar_one())
