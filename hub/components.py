"""The hub's components: which services exist, which module runs each of their processes, which
databases (with their migration trees) there are, each component's settings, and where the event
contracts (contracts.CATALOG) are wired into the kernel. Everything else asks this table."""
from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path

from contracts import CATALOG
from hubkit import migrations
from hubkit import settings as hubsettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("order", "inventory", "procurement", "customer", "accounting")
PLATFORMS = ("taobao", "jd")  # the shop platforms with a connector

# database name -> its Alembic tree (relative to the project root)
MIGRATION_TREES = {**{svc: f"services/{svc}/migrations" for svc in SERVICES},
                   "gateway": "gateway/migrations",
                   "ledger": "connectors/ledgers/migrations",
                   "shops": "connectors/shops/migrations"}


# every gRPC server of a hub: each binds HUB_<NAME>_GRPC_PORT, and clients dial HUB_<NAME>_GRPC_TARGET
GRPC_SERVERS = (*SERVICES, "ledger", *(f"shops_{p}" for p in PLATFORMS))


def grpc_endpoints(pick_port, given: Mapping[str, str] | None = None) -> dict[str, str]:
    """A port of its own (from `pick_port()`) and the target that dials it, for every gRPC server of
    a hub whose port and target `given` (say os.environ) leaves open; so two hubs on one machine
    never dial each other's processes."""
    given = given or {}
    env = {}
    for name in GRPC_SERVERS:
        port_var, target_var = f"HUB_{name.upper()}_GRPC_PORT", f"HUB_{name.upper()}_GRPC_TARGET"
        if given.get(port_var) or given.get(target_var):
            continue
        port = str(pick_port())
        env[port_var], env[target_var] = port, f"127.0.0.1:{port}"
    return env


# component -> the module with its settings class (`Settings`, a hubkit.settings.HubSettings)
SETTINGS_MODULES = {**{svc: f"services.{svc}.config" for svc in SERVICES},
                    "gateway": "gateway.config",
                    "ledger": "connectors.ledgers.config",
                    "shops": "connectors.shops.config"}
# HUB_* variables that are no component's setting, but are known: tooling and tests
OTHER_VARIABLES = {"HUB_METRICS_BASE_PORT",                 # hub up: where the metrics ports start
                   "HUB_FAULT_RELAY_EXIT_AFTER_CONFIRM",    # fault injection in the tests
                   "HUB_FAULT_GATEWAY_EXIT_BEFORE_ANSWER",
                   "HUB_SOAK_VOUCHERS", "HUB_SOAK_ORDERS",  # make soak
                   "HUB_PROPERTY_EXAMPLES",                 # the property tests
                   # docker compose's own (docker-compose.yml)
                   "HUB_IMAGE", "HUB_GATEWAY_HOST_PORT", "HUB_SHOPS_SECRETS_PATH", "HUB_LEDGER_SECRETS_PATH"}
OTHER_PREFIXES = ("HUB_TEST_",)  # tests/support/infra.py
_warned = False


def settings_class(component: str) -> type[hubsettings.HubSettings]:
    """The settings class of a service, the gateway, `ledger` or `shops`."""
    return importlib.import_module(SETTINGS_MODULES[component]).Settings


def known_variables() -> set[str]:
    """Every HUB_* variable some component reads."""
    from connectors.ledgers import config as ledger_config
    names = set(OTHER_VARIABLES) | ledger_config.credential_variables()
    for component in SETTINGS_MODULES:
        names |= set(settings_class(component).env_names())
    return names


def warn_unknown(env: Mapping[str, str] | None = None) -> list[str]:
    """Warn once per process, on stderr, of HUB_* variables no component declares."""
    global _warned
    if _warned:
        return []
    _warned = True
    warnings = hubsettings.unknown_variables(hubsettings.hub_variables(env), known_variables(), OTHER_PREFIXES)
    for line in warnings:
        print(f"hub: warning: {line}", file=sys.stderr, flush=True)
    return warnings


def load(component: str, env: Mapping[str, str] | None = None):
    """The settings of one component, read once at the start of its process (a bad value exits
    with one line naming the variable; an unknown HUB_* variable is warned about)."""
    warn_unknown(env)
    return hubsettings.load(settings_class(component), env)


class AllSettings:
    """Every component's settings at once, for the composition root: the supervisor, the CLI's
    operator commands, the demo and the tests."""

    def __init__(self, env: Mapping[str, str] | None = None):
        warn_unknown(env)
        self.env = env
        self.components, problems = {}, []
        for component in SETTINGS_MODULES:
            try:
                self.components[component] = hubsettings.load(settings_class(component), env)
            except hubsettings.SettingsError as exc:
                problems += exc.lines
        if problems:  # each bad variable once, though several components read it
            raise hubsettings.SettingsError(list(dict.fromkeys(problems)))
        common = self.components["gateway"]
        self.amqp_uri, self.var_dir, self.log_level = common.amqp_uri, common.var_dir, common.log_level
        self.timezone, self.metrics_port = common.timezone, common.metrics_port
        self.gateway = common

    def __getitem__(self, component: str):
        return self.components[component]

    def db_url(self, component: str) -> str:
        """The database URL of a service, the gateway, `ledger` or `shops`."""
        s = self.components[component]
        return s.db_url if component in SERVICES else getattr(s, f"{component}_db_url")

    @property
    def grpc_ports(self) -> dict[str, int]:
        """service -> the port its api binds."""
        return {svc: self.components[svc].grpc_port for svc in SERVICES}

    def grpc_target(self, service: str) -> str:
        """What a client dials for a service's api (or `ledger`), as the gateway does."""
        return self.gateway.grpc_target(service)

    gateway_db_url = property(lambda self: self.db_url("gateway"))
    gateway_port = property(lambda self: self.gateway.gateway_port)
    ledgers = property(lambda self: self.components["ledger"].ledgers)
    ledger_db_url = property(lambda self: self.db_url("ledger"))
    ledger_grpc_port = property(lambda self: self.components["ledger"].ledger_grpc_port)
    ledger_grpc_target = property(lambda self: self.gateway.ledger_grpc_target)
    shops_db_url = property(lambda self: self.db_url("shops"))
    shops_file = property(lambda self: self.components["shops"].shops_file)
    shops_grpc_ports = property(lambda self: self.components["shops"].shops_grpc_ports)
    shops_grpc_targets = property(lambda self: self.gateway.shops_grpc_targets)


def settings(env: Mapping[str, str] | None = None) -> AllSettings:
    """Every component's settings (see AllSettings)."""
    return AllSettings(env)


def metadata(service: str):
    """The SQLAlchemy metadata of a service's database."""
    return importlib.import_module(f"services.{service}.models").metadata


def api_main(service: str):
    """`main(settings)` of a service's gRPC api process (given the service's settings)."""
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


def database_urls(settings: AllSettings) -> dict[str, str]:
    """Every database of the hub: the services', the gateway's and the connectors'."""
    return {name: settings.db_url(name) for name in MIGRATION_TREES}


def migrate(name: str, url: str) -> None:
    """Migrate one database of the hub to head."""
    migrations.upgrade(name, PROJECT_ROOT / MIGRATION_TREES[name], url)


def migrate_all(settings) -> list[str]:
    """Migrate every database to head (what `hub migrate` and the embedded start do)."""
    urls = database_urls(settings)
    for name, url in urls.items():
        migrate(name, url)
    return list(urls)
