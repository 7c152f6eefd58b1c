"""Alembic, driven from code: one migration tree per service (services/<svc>/migrations)
and one for the gateway; each env.py calls run_env() with its metadata."""
from __future__ import annotations

import zlib

from alembic import command, context
from alembic.config import Config
from sqlalchemy import text

from hubkit.db import make_engine
from hubkit.settings import PROJECT_ROOT

TREES = {**{svc: f"services/{svc}/migrations"
            for svc in ("order", "inventory", "procurement", "customer", "accounting")},
         "gateway": "gateway/migrations", "ledger": "connectors/ledgers/migrations",
         "shops": "connectors/shops/migrations"}


def config(name: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / TREES[name]))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["url"] = url
    cfg.attributes["lock_id"] = zlib.crc32(name.encode())
    return cfg


def upgrade(name: str, url: str) -> None:
    if url.startswith("sqlite:///"):
        from pathlib import Path
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(config(name, url), "head")


def database_urls(settings) -> dict:
    """Every database of the hub: the services', the gateway's and the connectors'."""
    return {**settings.db_urls, "gateway": settings.gateway_db_url, "ledger": settings.ledger_db_url,
            "shops": settings.shops_db_url}


def upgrade_all(settings) -> list[str]:
    """Migrate every database to head (what `hub migrate` and the embedded start do)."""
    urls = database_urls(settings)
    for name, url in urls.items():
        upgrade(name, url)
    return list(urls)


def run_env(metadata) -> None:
    """Body of every env.py: online migrations, serialised by an advisory lock on PostgreSQL."""
    cfg = context.config
    engine = make_engine(cfg.attributes["url"])
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET lock_timeout = '10s'"))
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": cfg.attributes["lock_id"]})
            connection.commit()
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": cfg.attributes["lock_id"]})
            connection.commit()
    engine.dispose()
