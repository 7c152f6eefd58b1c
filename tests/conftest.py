"""Fixtures: the real broker and database, one vhost and set of databases per test session."""
from __future__ import annotations

import pytest

from hub.components import SERVICES
from hubkit import broker
from tests.support import infra
from tests.support.hub import Hub

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


def _vhost(name):
    uri = infra.create_vhost(name)
    return uri


@pytest.fixture(scope="session")
def pg_hub(session_name, pg_urls, tmp_path_factory):
    """The whole hub on PostgreSQL, each process a separate OS process."""
    vhost = f"{session_name}_pg"
    hub = Hub(_vhost(vhost), pg_urls, tmp_path_factory.mktemp("pg-hub-logs"))
    try:
        yield hub.start()
    finally:
        hub.stop()
        infra.delete_vhost(vhost)


@pytest.fixture(scope="session")
def sqlite_hub(session_name, tmp_path_factory):
    """The whole hub on the embedded default (SQLite files), in its own vhost."""
    vhost = f"{session_name}_lite"
    var = tmp_path_factory.mktemp("sqlite-hub")
    urls = {name: f"sqlite:///{var / (name + '.db')}" for name in DATABASES}
    hub = Hub(_vhost(vhost), urls, var / "log")
    try:
        yield hub.start()
    finally:
        hub.stop()
        infra.delete_vhost(vhost)
