"""The hub's components: which services exist, which module runs each of their processes, and
which databases (with their migration trees) there are; and where the event contracts
(contracts.CATALOG) are wired into the kernel. Everything else asks this table."""
from __future__ import annotations

import importlib
from pathlib import Path

from contracts import CATALOG
from hubkit import migrations

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("order", "inventory", "procurement", "customer", "accounting")
PLATFORMS = ("taobao", "jd")  # the shop platforms with a connector

# database name -> its Alembic tree (relative to the project root)
MIGRATION_TREES = {**{svc: f"services/{svc}/migrations" for svc in SERVICES},
                   "gateway": "gateway/migrations",
                   "ledger": "connectors/ledgers/migrations",
                   "shops": "connectors/shops/migrations"}


def metadata(service: str):
    """The SQLAlchemy metadata of a service's database."""
    return importlib.import_module(f"services.{service}.models").metadata


def api_main(service: str):
    """`main(settings)` of a service's gRPC api process."""
    return importlib.import_module(f"services.{service}.grpc_server").main


def worker_class(service: str):
    """The nameko service class of a service's worker process."""
    return importlib.import_module(f"services.{service}.worker").Worker


def subscriptions(consumer: str | None = None):
    """The broker's subscriptions (every one, or one consumer's), derived from the contracts."""
    return CATALOG.subscriptions(consumer)


def has_worker(service: str) -> bool:
    """A service has a worker when it consumes events."""
    return bool(CATALOG.subscriptions(service))


def has_relay(service: str) -> bool:
    """A service has an outbox relay when it publishes events."""
    return service in CATALOG.publishers()


def database_urls(settings) -> dict[str, str]:
    """Every database of the hub: the services', the gateway's and the connectors'."""
    return {**{svc: settings.db_url(svc) for svc in SERVICES}, "gateway": settings.gateway_db_url,
            "ledger": settings.ledger_db_url, "shops": settings.shops_db_url}


def migrate(name: str, url: str) -> None:
    """Migrate one database of the hub to head."""
    migrations.upgrade(name, PROJECT_ROOT / MIGRATION_TREES[name], url)


def migrate_all(settings) -> list[str]:
    """Migrate every database to head (what `hub migrate` and the embedded start do)."""
    urls = database_urls(settings)
    for name, url in urls.items():
        migrate(name, url)
    return list(urls)
