"""Gap-free counters kept in a table row: outbox sequences per aggregate, voucher numbers."""
from __future__ import annotations

from sqlalchemy import insert, update


def next_in_sequence(session, table, key: str) -> int:
    """Increment-and-read a counter row (first primary-key column = key, `last_sequence`) in one
    statement, so concurrent writers serialise on the row; numbers have no gaps."""
    key_column = list(table.primary_key.columns)[0]
    result = session.execute(update(table).where(key_column == key)
                             .values(last_sequence=table.c.last_sequence + 1)
                             .returning(table.c.last_sequence)).scalar()
    if result is None:
        session.execute(insert(table).values({key_column.name: key, "last_sequence": 1}))
        result = 1
    return int(result)
