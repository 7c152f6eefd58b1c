"""The gateway's own database: API users and their keys (stored as SHA-256 hashes)."""
from sqlalchemy import Boolean, Column, DateTime, String, Table

from hubkit.db import new_metadata

metadata = new_metadata()

ROLES = ("warehouse", "sales", "purchasing", "finance", "admin")

users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
