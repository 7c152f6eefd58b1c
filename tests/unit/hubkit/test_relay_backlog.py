"""The relay's backlog gauges (hub_outbox_pending, hub_outbox_oldest_age_seconds), read through a
Core connection: the relay process never imports the ORM."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from hubkit import clock, outbox
from hubkit.db import Database, new_metadata
from hubkit.relay import BacklogGauges


def test_backlog_gauges_count_the_unpublished_rows_and_age_the_oldest(tmp_path):
    metadata = new_metadata()
    outbox.add_tables(metadata)
    db = Database(f"sqlite:///{tmp_path / 'relay.db'}", metadata)
    metadata.create_all(db.engine)
    table = metadata.tables["outbox"]
    now = clock.now()
    with db.engine.begin() as c:
        c.execute(insert(table), [
            {"event_id": f"e{i}", "event_type": "order_placed", "body": "{}", "created_at": now - timedelta(seconds=age),
             "published_at": now if published else None} for i, (age, published) in
            enumerate([(30, False), (10, False), (90, True)])])
    count, oldest = BacklogGauges("order", db, table).read()
    assert count == 2
    assert 29 <= oldest < 60
    db.dispose()
