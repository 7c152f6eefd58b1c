"""API keys map to a user and a role; the user name travels to the services as the actor."""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from gateway.models import ROLES, users
from hubkit import clock
from hubkit.db import Database, is_sqlite, make_engine, once_more_if_disconnected
from hubkit.errors import Conflict, InvalidArgument, NotFound

REFUSED_SECONDS = 30.0
_ACTIVE_USER = select(users.c.name, users.c.role).where(users.c.key_hash == bindparam("digest"),
                                                        users.c.active.is_(True))


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


def revoke_user(db: Database, name: str) -> None:
    """Deactivate a user's API key: the gateway refuses it within HUB_GATEWAY_KEY_CACHE_SECONDS (2 s;
    0: from its next request on)."""
    with db.session() as s:
        if s.execute(users.update().where(users.c.name == name).values(active=False)).rowcount == 0:
            raise NotFound(f"user {name!r} not found")


class KeyStore:
    """Looks keys up by hash. A key that is unknown or inactive is remembered briefly, so a flood of
    bad keys does not hit the database. A valid key is remembered for `cache_seconds`
    (HUB_GATEWAY_KEY_CACHE_SECONDS, 2 s by default) from the read that found it: a key revoked or
    deactivated in the table, by any process, is refused within that bound (the first request after it
    reads the table again), and a busy client costs one read per bound instead of one per request
    (issue 12: it was a statement per request). 0: confirmed by a read on every request, refused at once.
    That read is one statement outside a transaction on PostgreSQL (no BEGIN and ROLLBACK around it),
    on a connection of its own that is in autocommit from the start (an isolation level set per
    checkout was set and reset around every read)."""

    MAX_REFUSED = 10_000
    MAX_KNOWN = 10_000

    def __init__(self, db: Database, cache_seconds: float = 0.0):
        self.db = db
        self.cache_seconds = cache_seconds
        self._refused: dict[str, float] = {}  # key hash -> until when it is refused without a lookup
        self._known: dict[str, tuple[User, float]] = {}  # key hash -> its user, until when taken without one
        # the checks run one at a time on the gateway's event loop: one connection (and one spare)
        self._reads = (db.engine.execution_options(hub_read_only=True) if is_sqlite(db.url)
                       else make_engine(db.url, pool_size=1, autocommit=True))

    def user_for(self, key: str) -> User | None:
        digest = hash_key(key)
        now = time.monotonic()
        known = self._known.get(digest)
        if known is not None and known[1] > now:
            return known[0]
        until = self._refused.get(digest)
        if until is not None and until > now:
            return None
        def lookup():  # a read: after a database restart it runs again on a fresh connection
            with self._reads.connect() as conn:
                return conn.execute(_ACTIVE_USER, {"digest": digest}).first()
        row = once_more_if_disconnected(lookup)
        if row is None:
            self._known.pop(digest, None)
            if len(self._refused) >= self.MAX_REFUSED:
                self._refused.clear()
            self._refused[digest] = time.monotonic() + REFUSED_SECONDS
            return None
        self._refused.pop(digest, None)
        user = User(row.name, row.role)
        if self.cache_seconds > 0:
            if len(self._known) >= self.MAX_KNOWN and digest not in self._known:
                self._known.clear()
            self._known[digest] = (user, now + self.cache_seconds)
        return user
