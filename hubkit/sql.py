"""SQL that differs between the two dialects the hub runs on (PostgreSQL and SQLite)."""
from __future__ import annotations

from sqlalchemy import BigInteger, cast, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def dialect_insert(session, table):
    """INSERT with the dialect's ON CONFLICT support."""
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)


def cents_sum(column):
    """SUM of a money column as whole cents, an integer on both dialects (SQLite's NUMERIC is binary)."""
    return func.coalesce(func.sum(cast(func.round(column * 100), BigInteger)), 0)
