"""Signed webhooks from storefronts: HMAC-SHA256 over "<timestamp>.<raw body>" with the
storefront's secret, a timestamp within a window, and no delivery accepted twice."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from sqlalchemy import select

from gateway.errors import Problem
from gateway.models import storefronts, webhook_deliveries
from hubkit import clock
from hubkit.db import Database, dialect_insert
from hubkit.errors import Conflict, InvalidArgument

WINDOW_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def add_storefront(db: Database, name: str) -> str:
    """Register a storefront; returns its secret (shown once)."""
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise InvalidArgument("storefront name: 1-64 letters, digits, '-' or '_'")
    secret = secrets.token_hex(32)
    with db.session() as s:
        if s.execute(select(storefronts.c.name).where(storefronts.c.name == name)).first():
            raise Conflict(f"storefront {name!r} already exists")
        s.execute(storefronts.insert().values(name=name, secret=secret, created_at=clock.now()))
    return secret


class WebhookVerifier:
    def __init__(self, db: Database):
        self.db = db

    def verify(self, storefront: str, timestamp: str, given: str, body: bytes, now: float | None = None) -> str:
        """The signature, when the delivery is authentic, fresh and new; otherwise a 401/409 problem."""
        with self.db.reader() as s:
            secret = s.execute(select(storefronts.c.secret).where(storefronts.c.name == storefront)).scalar()
        if secret is None:
            raise Problem(401, "unauthenticated", f"unknown storefront {storefront!r}")
        try:
            age = abs((now or time.time()) - int(timestamp))
        except (TypeError, ValueError):
            raise Problem(401, "unauthenticated", "X-Hub-Timestamp must be Unix seconds")
        if age > WINDOW_SECONDS:
            raise Problem(401, "unauthenticated", f"timestamp outside the {WINDOW_SECONDS}s window")
        expected = signature(secret, timestamp, body)
        if not hmac.compare_digest(expected, (given or "").removeprefix("sha256=")):
            raise Problem(401, "unauthenticated", "signature does not match the body")
        with self.db.reader() as s:
            if s.execute(select(webhook_deliveries.c.signature).where(
                    webhook_deliveries.c.storefront == storefront, webhook_deliveries.c.signature == expected)).first():
                raise Problem(409, "replayed", "this delivery was accepted before")
        return expected

    def accepted(self, storefront: str, sig: str) -> None:
        with self.db.session() as s:
            s.execute(dialect_insert(s, webhook_deliveries).values(
                storefront=storefront, signature=sig, received_at=clock.now()).on_conflict_do_nothing())
