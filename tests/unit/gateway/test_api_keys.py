"""API keys through the gateway's app (the real auth middleware, a SQLite gateway database): a
key revoked or deactivated is refused on its very next request with HUB_GATEWAY_KEY_CACHE_SECONDS=0,
and within that bound with a cache (2 s by default)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from hubkit.db import Database


class Books:
    """The accounting stub the one route used here calls."""

    def ListAccounts(self, request, metadata=None):
        from hubapi.accounting.v1 import accounting_service_pb2 as pb
        return pb.ListAccountsResponse()


@pytest.fixture
def gateway(tmp_path):
    yield from _gateway(tmp_path, "0")


@pytest.fixture
def cached_gateway(tmp_path):
    yield from _gateway(tmp_path, "2")


def _gateway(tmp_path, cache_seconds: str):
    from gateway.app import create_app
    from gateway.clients import Clients
    from gateway.models import metadata
    from hub import components

    settings = components.settings({"HUB_VAR_DIR": str(tmp_path), "HUB_GATEWAY_KEY_CACHE_SECONDS": cache_seconds})
    db = Database(settings.gateway_db_url, metadata)
    metadata.create_all(db.engine)
    clients = Clients(order=None, inventory=None, procurement=None, customer=None, accounting=Books(), ledger=None,
                      shops={}, channels=[])
    with TestClient(create_app(settings["gateway"], clients)) as http:
        yield http, db
    db.dispose()


def _get(http, key):
    return http.get("/accounting/accounts", headers={"X-API-Key": key})


def test_a_revoked_key_is_refused_on_its_next_request(gateway):
    from gateway import auth
    http, db = gateway
    key, other = auth.add_user(db, "alice", "finance"), auth.add_user(db, "bob", "finance")
    assert _get(http, key).status_code == 200
    assert _get(http, other).status_code == 200
    auth.revoke_user(db, "alice")  # what `hub users revoke alice` does, from another process
    refused = _get(http, key)
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert _get(http, other).status_code == 200  # bob's key is untouched


def test_a_key_deactivated_in_the_table_is_refused_on_its_next_request(gateway):
    from gateway import auth
    from gateway.models import users
    http, db = gateway
    key = auth.add_user(db, "carol", "finance")
    assert _get(http, key).status_code == 200
    with db.session() as s:
        s.execute(update(users).where(users.c.name == "carol").values(active=False))
    assert _get(http, key).status_code == 401


def test_revoking_an_unknown_user_is_an_error(gateway):
    from gateway import auth
    from hubkit.errors import NotFound
    _, db = gateway
    with pytest.raises(NotFound):
        auth.revoke_user(db, "nobody")


def test_the_cli_revokes_a_key(gateway, monkeypatch, capsys):
    from gateway import auth
    from hub import cli
    http, db = gateway
    key = auth.add_user(db, "dave", "finance")
    assert _get(http, key).status_code == 200
    monkeypatch.setattr(cli, "_settings", lambda: type("S", (), {"gateway_db_url": str(db.engine.url)})())
    cli.main(["users", "revoke", "dave"])
    assert "revoked" in capsys.readouterr().out
    assert _get(http, key).status_code == 401


def test_a_valid_key_is_read_once_per_cache_bound_and_a_revoked_one_refused_within_it(cached_gateway, monkeypatch):
    """With the cache (2 s), a busy key costs one read of the users table per 2 s, not one per request;
    revoked, it is still taken until its 2 s are up, then refused (and a refused key is not cached)."""
    from sqlalchemy import event as sa_event

    from gateway import auth
    http, db = cached_gateway
    now = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])
    key = auth.add_user(db, "erin", "finance")
    reads: list[str] = []
    store = http.app.state.keys
    sa_event.listen(store._reads, "before_cursor_execute",
                    lambda *args: reads.append(args[2]) if "FROM users" in args[2] else None)
    assert [_get(http, key).status_code for _ in range(5)] == [200] * 5
    assert len(reads) == 1
    auth.revoke_user(db, "erin")
    now[0] += 1.9
    assert _get(http, key).status_code == 200  # within the bound: not read again
    now[0] += 0.2
    assert _get(http, key).status_code == 401  # the bound is up: read, refused
    assert len(reads) == 2
