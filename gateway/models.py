"""The gateway's own database: API users and their keys (stored as SHA-256 hashes)."""
from sqlalchemy import Boolean, Column, DateTime, Integer, LargeBinary, String, Table

from hubkit.db import new_metadata

metadata = new_metadata()

# dept_manager and finance_director approve requisitions and purchase orders (procurement's approval chains)
ROLES = ("warehouse", "sales", "purchasing", "finance", "admin", "dept_manager", "finance_director")

users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# First answer to each (user, Idempotency-Key): a retried POST gets it back instead of acting twice.
idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("user_name", String(64), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer),  # NULL while the first request is in progress
    Column("response_body", LargeBinary),
    Column("content_type", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # while in progress: the gateway process running it (host:pid:boot) and until when it holds the key
    Column("owner", String(200)),
    Column("lease_until", DateTime(timezone=True)),
)

# Storefronts that push orders by signed webhook; each has its own secret.
storefronts = Table(
    "storefronts", metadata,
    Column("name", String(64), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Signatures already accepted: the same delivery sent again is a replay and is refused.
webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("storefront", String(64), primary_key=True),
    Column("signature", String(64), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
)
