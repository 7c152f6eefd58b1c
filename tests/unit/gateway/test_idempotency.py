"""Who holds an Idempotency-Key in progress: its gateway process, by a lease. A retry waits (409)
while that process may still answer, and takes the key over at once when it is known dead or
when its lease ran out."""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from gateway import idempotency
from gateway.models import idempotency_keys as keys
from gateway.models import metadata
from hubkit import clock
from hubkit.db import Database, as_utc


@pytest.fixture
def db(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'gateway.db'}", metadata)
    metadata.create_all(db.engine)
    yield db
    db.dispose()


def _held_by(db, owner: str, lease_seconds: float) -> None:
    with db.session() as s:
        s.execute(update(keys).values(owner=owner, lease_until=clock.now() + timedelta(seconds=lease_seconds)))


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_key_in_progress_on_a_live_gateway_is_refused_with_409(db):
    first, retry = idempotency.IdempotencyStore(db), idempotency.IdempotencyStore(db)
    assert first.claim("alice", "k1", "h") is None
    _held_by(db, f"elsewhere:1234:{'b' * 8}", 15)  # another host's gateway, its lease running
    assert retry.claim("alice", "k1", "h").status_code == 409


def test_a_key_whose_gateway_process_died_is_taken_over_at_once(db):
    first, retry = idempotency.IdempotencyStore(db), idempotency.IdempotencyStore(db)
    assert first.claim("alice", "k1", "h") is None
    host = retry.owner.split(":")[0]
    _held_by(db, f"{host}:{_dead_pid()}:abcdef12", 15)  # this host, its process gone
    assert retry.claim("alice", "k1", "h") is None
    with db.reader() as s:
        assert s.execute(select(keys.c.owner)).scalar() == retry.owner


def test_a_key_whose_lease_ran_out_is_taken_over(db):
    first, retry = idempotency.IdempotencyStore(db), idempotency.IdempotencyStore(db)
    assert first.claim("alice", "k1", "h") is None
    _held_by(db, f"elsewhere:1234:{'b' * 8}", -1)
    assert retry.claim("alice", "k1", "h") is None


def test_a_settled_key_answers_the_first_response_and_its_lease_is_gone(db):
    store = idempotency.IdempotencyStore(db)
    assert store.claim("alice", "k1", "h") is None
    store.settle("alice", "k1", 201, b'{"id": "1"}', "application/json")
    replay = store.claim("alice", "k1", "h")
    assert replay.status_code == 201 and replay.body == b'{"id": "1"}'
    with db.reader() as s:
        assert s.execute(select(keys.c.owner, keys.c.lease_until)).one() == (None, None)


@pytest.mark.parametrize("status", [429, 503])
def test_a_not_now_or_a_server_error_is_not_kept_so_the_retry_goes_ahead(db, status):
    store = idempotency.IdempotencyStore(db)
    assert store.claim("alice", "k1", "h") is None
    store.settle("alice", "k1", status, b'{"status": %d}' % status, "application/problem+json")
    assert store.claim("alice", "k1", "h") is None


def test_a_running_request_renews_its_lease_and_only_its_own(db):
    store, other = idempotency.IdempotencyStore(db), idempotency.IdempotencyStore(db)
    assert store.claim("alice", "k1", "h") is None
    _held_by(db, store.owner, 1)
    store.renew("alice", "k1")
    with db.reader() as s:
        lease = s.execute(select(keys.c.lease_until)).scalar()
    assert as_utc(lease) > clock.now() + idempotency.LEASE - timedelta(seconds=5)
    _held_by(db, store.owner, 1)
    other.renew("alice", "k1")  # not its key: nothing changes
    with db.reader() as s:
        assert as_utc(s.execute(select(keys.c.lease_until)).scalar()) < clock.now() + timedelta(seconds=2)
