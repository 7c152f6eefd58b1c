"""The order service's handlers on a real database (PostgreSQL and SQLite); each module gets an
order database of its own on PostgreSQL, so its counts and queues start empty."""
from __future__ import annotations

import pytest

from hub import components
from hubkit.db import Database
from services.order.models import metadata
from tests.support import infra


@pytest.fixture(scope="module")
def pg_order_url(request):
    prefix = f"{infra.session_name()}_o{request.module.__name__.rsplit('_', 1)[-1][:8]}"
    url = infra.create_databases(prefix, ["order"])["order"]
    components.migrate("order", url)
    yield url
    infra.drop_databases(prefix, ["order"])


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, tmp_path):
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_order_url")
    else:
        url = f"sqlite:///{tmp_path / 'order.db'}"
        components.migrate("order", url)
    database = Database(url, metadata, pool_size=4)
    yield database
    database.dispose()
