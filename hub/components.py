"""The hub's components: which services exist, which module runs each of their processes, which
databases (with their migration trees) there are, each component's settings, and where the event
contracts (contracts.CATALOG) are wired into the kernel. Everything else asks this table."""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from contracts import CATALOG
from contracts.events import ANY_CONSUMER, SHOPS
from hubkit import settings as hubsettings

if TYPE_CHECKING:
    from hubkit import broker

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("order", "inventory", "procurement", "customer", "accounting")
PLATFORMS = ("taobao", "jd")  # the shop platforms with a connector

# database name -> its Alembic tree (relative to the project root)
MIGRATION_TREES = {**{svc: f"services/{svc}/migrations" for svc in SERVICES},
                   "gateway": "gateway/migrations",
                   "ledger": "connectors/ledgers/migrations",
                   "shops": "connectors/shops/migrations",
                   "notify": "connectors/notify/migrations"}


# every gRPC server of a hub: each binds HUB_<NAME>_GRPC_PORT, and clients dial HUB_<NAME>_GRPC_TARGET
GRPC_SERVERS = (*SERVICES, "ledger", *(f"shops_{p}" for p in PLATFORMS), "notify")
# every component with a broker user of its own (hub.supervisor hands each process its component's)
BROKER_ACCOUNTS = (*SERVICES, "ledger", *(f"shops_{p}" for p in PLATFORMS), "notify")


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
                    "shops": "connectors.shops.config",
                    "notify": "connectors.notify.config"}
# HUB_* variables that are no component's setting, but are known: tooling and tests
OTHER_VARIABLES = {"HUB_METRICS_BASE_PORT",                 # hub up: where the metrics ports start
                   # `hub migrate`, the supervisor and the relays: a component's own broker URI (default: derived)
                   *(f"HUB_AMQP_URI_{name.upper()}" for name in BROKER_ACCOUNTS),
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
        self.amqp_management_url = common.amqp_management_url
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
    notify_file = property(lambda self: self.components["notify"].notify_file)
    notify_grpc_port = property(lambda self: self.components["notify"].notify_grpc_port)


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
    """Every subscription the contracts know (or one consumer's), configured here or not."""
    return CATALOG.subscriptions(consumer)


def shop_platforms(settings) -> tuple:
    """The platforms with shops in HUB_SHOPS_FILE: each gets its connector process."""
    if not settings.shops_file:
        return ()
    from connectors.shops import config as shop_config
    return tuple(shop_config.load(settings.shops_file))


def notified_events(settings) -> frozenset[str]:
    """The event types some notification target in HUB_NOTIFY_FILE wants (none without it)."""
    if not getattr(settings, "notify_file", ""):
        return frozenset()
    from connectors.notify import config as notify_config
    return frozenset(notify_config.wanted(notify_config.load(settings.notify_file)))


def consumers(settings) -> list[str]:
    """The consumers this hub runs: every service with a worker, the ledger connector when
    HUB_LEDGERS names a ledger, a shop connector per platform with shops in HUB_SHOPS_FILE, the
    notifier when HUB_NOTIFY_FILE names targets."""
    return [*(svc for svc in SERVICES if has_worker(svc)), *(["ledger"] if settings.ledgers else []),
            *(f"shops_{p}" for p in shop_platforms(settings)), *(["notify"] if notified_events(settings) else [])]


def configured_subscriptions(settings):
    """The subscriptions of the consumers this hub runs: the queues `hub migrate` declares (a queue
    nobody consumes would only fill up and hold the broker's file descriptors). The notifier's are
    only those of the event types its targets want."""
    present, notified = set(consumers(settings)), notified_events(settings)
    return [sub for sub in CATALOG.subscriptions() if sub.service in present
            and (sub.service != "notify" or sub.event_type in notified)]


def unconsumed_events(settings) -> frozenset[str]:
    """Event types no consumer of this hub subscribes to (voucher_posted without a ledger, order_held
    without a notification target that wants it): the relay counts such an event as delivered when
    the broker returns it unroutable."""
    consumed = {sub.event_type for sub in configured_subscriptions(settings)}
    return frozenset(c.type for c in CATALOG if c.type not in consumed)


def _owners(publisher: str, settings) -> list[str]:
    # the shop connectors publish as one source ("shops"), each platform's with its own user; what any
    # consumer publishes (a dead letter's announcement), every consumer of this hub
    if publisher == ANY_CONSUMER:
        return consumers(settings)
    return [f"shops_{p}" for p in shop_platforms(settings)] if publisher == SHOPS else [publisher]


def broker_accounts(settings) -> dict[broker.Account, str]:
    """Each component of this hub that talks to the broker, what it may do there, and the URI it
    connects with: HUB_AMQP_URI_<COMPONENT> if set (a deployment's own password), else derived from
    HUB_AMQP_URI (hubkit.broker.account_uri)."""
    from hubkit import broker
    publishes: dict[str, list[str]] = {}
    for contract in CATALOG:
        for owner in _owners(contract.publisher, settings):
            publishes.setdefault(owner, []).append(contract.type)
    present = set(consumers(settings))
    # a connector has a user when this hub runs it (the ledger connector publishes voucher_refused, but
    # only where a ledger is configured)
    names = [n for n in BROKER_ACCOUNTS if n in present or (n in publishes and n in SERVICES)]
    given = _variables(settings.env)
    return {broker.Account(n, tuple(publishes.get(n, ())), n in present):
            given.get(f"HUB_AMQP_URI_{n.upper()}") or broker.account_uri(settings.amqp_uri, n) for n in names}


def _variables(env: Mapping[str, str] | None) -> dict[str, str]:
    """The environment (default os.environ) over the `.env` file, as the settings read them."""
    from dotenv import dotenv_values
    values = {k.upper(): v for k, v in dotenv_values(hubsettings.ENV_FILE).items() if v} \
        if Path(hubsettings.ENV_FILE).is_file() else {}
    values.update({k.upper(): v for k, v in (os.environ if env is None else env).items() if v})
    return values


def prepare_broker(settings) -> str:
    """Declare the topology of the configured consumers and give each component its broker user
    (what `hub migrate` and the embedded start do); returns what was done, in one line."""
    from hubkit import broker
    broker.ensure_running(settings.amqp_uri)
    subs = configured_subscriptions(settings)
    kept = broker.declare_topology(settings.amqp_uri, subs)
    old = (f"; WARNING: {len(kept)} queues declared by an older version keep their arguments, without "
           f"the length bound (recreate them empty, or bound them by a policy): {', '.join(kept)}" if kept else "")
    accounts = broker_accounts(settings)
    try:
        how = broker.set_up_accounts(settings.amqp_uri, accounts, settings.amqp_management_url)
        users = f"{len(accounts)} component users set up through {how}"
    except broker.AccountsUnavailable as exc:
        users = f"WARNING: no component users ({exc}); every process connects with HUB_AMQP_URI"
    return f"{len(subs)} subscriptions ({3 * len(subs)} queues) declared{old}; {users}"


def has_worker(service: str) -> bool:
    """A service has a worker when it consumes events."""
    return bool(CATALOG.subscriptions(service))


def has_relay(service: str) -> bool:
    """A service has an outbox relay when it publishes events."""
    return service in CATALOG.publishers()


def relay_settings(service: str):
    """The settings of a service's relay: the service's, connecting to the broker with
    HUB_AMQP_URI_<SERVICE> when the process's environment has it (a process that relays several
    services' outboxes publishes each service's events as that service's user), else HUB_AMQP_URI.
    The environment only, not the `.env` file: where the component users cannot log in, the
    supervisor hands the process HUB_AMQP_URI alone, and a password in `.env` must not win over it."""
    settings = load(service)
    own = os.environ.get(f"HUB_AMQP_URI_{service.upper()}")
    return settings.model_copy(update={"amqp_uri": own}) if own else settings


def database_urls(settings: AllSettings) -> dict[str, str]:
    """Every database of the hub: the services', the gateway's and the connectors'; the notifier's
    only in a hub with notification targets (a deployment without them needs no URL for it)."""
    return {name: settings.db_url(name) for name in MIGRATION_TREES
            if name != "notify" or notified_events(settings)}


def migrate(name: str, url: str) -> None:
    """Migrate one database of the hub to head."""
    from hubkit import migrations
    migrations.upgrade(name, PROJECT_ROOT / MIGRATION_TREES[name], url)


def migrate_all(settings) -> list[str]:
    """Migrate every database to head (what `hub migrate` and the embedded start do)."""
    urls = database_urls(settings)
    for name, url in urls.items():
        migrate(name, url)
    return list(urls)
