"""API keys map to a user and a role; the user name travels to the services as the actor."""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select

from gateway.models import ROLES, users
from hubkit import clock
from hubkit.db import Database
from hubkit.errors import Conflict, InvalidArgument

CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class User:
    name: str
    role: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def add_user(db: Database, name: str, role: str) -> str:
    """Create a user; returns the API key, which is shown once and stored only as a hash."""
    if role not in ROLES:
        raise InvalidArgument(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 64:
        raise InvalidArgument("name is required, at most 64 characters")
    key = "hub_" + secrets.token_urlsafe(32)
    with db.session() as s:
        if s.execute(select(users.c.name).where(users.c.name == name)).first():
            raise Conflict(f"user {name!r} already exists")
        s.execute(users.insert().values(name=name, role=role, key_hash=hash_key(key), active=True,
                                        created_at=clock.now()))
    return key


class KeyStore:
    """Looks keys up by hash, caching answers briefly so a hot path does not hit the database."""

    def __init__(self, db: Database):
        self.db = db
        self._cache: dict[str, tuple[float, User | None]] = {}

    def user_for(self, key: str) -> User | None:
        digest = hash_key(key)
        hit = self._cache.get(digest)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        with self.db.reader() as s:
            row = s.execute(select(users.c.name, users.c.role)
                            .where(users.c.key_hash == digest, users.c.active.is_(True))).first()
        user = User(row.name, row.role) if row else None
        self._cache[digest] = (time.monotonic() + CACHE_SECONDS, user)
        return user
