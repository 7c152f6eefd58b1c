"""SQL that differs between the two dialects the hub runs on (PostgreSQL and SQLite)."""
from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def dialect_insert(session, table):
    """INSERT with the dialect's ON CONFLICT support."""
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)
