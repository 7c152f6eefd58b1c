"""Dependency providers for nameko workers (in place of nameko-sqlalchemy, which needs SQLAlchemy < 2)."""
from __future__ import annotations

from nameko.extensions import DependencyProvider

from hubkit.consumer import HUB_CONFIG_KEY
from hubkit.db import Database, pool_size


class DatabaseProvider(DependencyProvider):
    """Gives every worker the service's Database; handlers open units of work on it."""

    def __init__(self, metadata):
        self.metadata = metadata
        self.db = None

    def setup(self):
        hub = self.container.config[HUB_CONFIG_KEY]
        # a connection for each worker green thread (timers and handlers alike)
        self.db = Database(hub["db_url"], self.metadata, pool_size=pool_size(hub["settings"], self.container.max_workers),
                           prepare=hub["settings"].db_prepared_statements)

    def get_dependency(self, worker_ctx):
        return self.db

    def stop(self):
        if self.db is not None:
            self.db.dispose()


def process_settings(container):
    """The settings the worker process read once at start (hubkit.worker.nameko_config)."""
    return container.config[HUB_CONFIG_KEY]["settings"]


class SettingsProvider(DependencyProvider):
    """This process's settings, read once when the worker starts."""

    def setup(self):
        self.settings = process_settings(self.container)

    def get_dependency(self, worker_ctx):
        return self.settings
