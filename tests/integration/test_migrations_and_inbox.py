"""Migrations match the models, and the inbox applies an event once, on PostgreSQL and SQLite."""
from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from gateway.models import metadata as gateway_metadata
from hub import components
from hub.components import SERVICES
from hubkit.db import Database
from hubkit.envelope import Envelope
from hubkit.inbox import handle_once
from services.order.models import metadata as order_metadata

pytestmark = pytest.mark.integration
METADATA = {**{svc: importlib.import_module(f"services.{svc}.models").metadata for svc in SERVICES},
            "gateway": gateway_metadata}


@pytest.fixture(params=["postgresql", "sqlite"])
def urls(request, pg_urls, tmp_path):
    if request.param == "postgresql":
        return pg_urls
    return {name: f"sqlite:///{tmp_path / (name + '.db')}" for name in METADATA}


@pytest.mark.parametrize("name", list(METADATA))
def test_migrations_match_the_models(urls, name):
    components.migrate(name, urls[name])
    db = Database(urls[name], METADATA[name])
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), METADATA[name])
    db.dispose()
    assert diff == []


def test_an_event_is_applied_once_and_stale_versions_are_ignored(urls):
    components.migrate("order", urls["order"])
    db = Database(urls["order"], order_metadata)
    applied = []

    def effect(uow, env):
        applied.append(env.sequence)

    def event(seq, event_id=None):
        kw = {"event_id": event_id} if event_id else {}
        return Envelope(type="stock_reserved", source="inventory", aggregate_id=f"agg-{id(db)}", sequence=seq,
                        payload={}, correlation_id="c", actor="t", **kw)

    second = event(2)
    assert handle_once(db, "order", "test.consumer", second, effect)
    assert not handle_once(db, "order", "test.consumer", second, effect)  # duplicate delivery
    assert not handle_once(db, "order", "test.consumer", event(1), effect)  # older version
    assert handle_once(db, "order", "test.consumer", event(3), effect)
    assert applied == [2, 3]
    inbox = order_metadata.tables["inbox"]
    with db.reader() as s:
        assert s.execute(select(func.count()).select_from(inbox).where(inbox.c.consumer == "test.consumer")).scalar() == 3
    db.dispose()


def test_an_effect_that_fails_leaves_no_inbox_record(urls):
    components.migrate("order", urls["order"])
    db = Database(urls["order"], order_metadata)
    env = Envelope(type="stock_reserved", source="inventory", aggregate_id="fails", sequence=1, payload={},
                   correlation_id="c", actor="t")

    def boom(uow, _env):
        raise RuntimeError("handler failed")
    with pytest.raises(RuntimeError):
        handle_once(db, "order", "test.fail", env, boom)
    assert handle_once(db, "order", "test.fail", env, lambda uow, e: None)  # retried later, applied then
    db.dispose()
