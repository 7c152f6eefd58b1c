"""Alembic, driven from code: each component's migration tree (the composition root knows
where they are) is upgraded by `upgrade`; each env.py calls run_env() with its metadata."""
from __future__ import annotations

import zlib
from pathlib import Path

from sqlalchemy import text

from hubkit.db import make_engine

# alembic is imported where a migration runs, not with this module: every process of the hub imports
# the composition root (hub.components), and alembic was a third of what starting one imported


def config(name: str, tree, url: str):
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(tree))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["url"] = url
    cfg.attributes["lock_id"] = zlib.crc32(name.encode())
    return cfg


def upgrade(name: str, tree, url: str) -> None:
    """Migrate database `name` at `url` to the head of the Alembic tree in folder `tree`."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    from alembic import command
    command.upgrade(config(name, tree, url), "head")


def run_env(metadata) -> None:
    """Body of every env.py: online migrations, serialised by an advisory lock on PostgreSQL."""
    from alembic import context
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
