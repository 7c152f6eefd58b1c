"""API keys through the gateway's app (the real auth middleware, a SQLite gateway database): a
key revoked or deactivated is refused on its very next request."""
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
    from gateway.app import create_app
    from gateway.clients import Clients
    from gateway.models import metadata
    from hub import components

    settings = components.settings({"HUB_VAR_DIR": str(tmp_path)})
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
