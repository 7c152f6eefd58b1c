"""Fixtures: the real broker and database, one vhost and set of databases per test session."""
from __future__ import annotations

import pytest

from hub.components import SERVICES
from hubkit import broker
from tests.support import infra

DATABASES = (*SERVICES, "gateway")


@pytest.fixture(scope="session")
def session_name():
    broker.ensure_running(f"{infra.AMQP_BASE}/%2F")  # starts the local RabbitMQ if installed but down
    return infra.session_name()


@pytest.fixture(scope="session")
def pg_urls(session_name):
    urls = infra.create_databases(session_name, DATABASES)
    yield urls
    infra.drop_databases(session_name, DATABASES)

