"""Settings: environment variables named HUB_*, read and validated once per process at start-up.

The kernel owns the machinery and the settings every process has (`HubSettings`). Each service
and connector extends it with its own settings class in its own module (services/<service>/
config.py, gateway/config.py, connectors/*/config.py); the composition root (hub/) knows them all.

- Values come from the environment, then from a `.env` file in the working directory (the
  environment wins); an empty value counts as unset.
- Each value is validated by its type. A bad one stops the process with one line that names the
  variable and what is wrong (`SettingsError`, a SystemExit: no traceback).
- `unknown_variables` finds HUB_* variables that no settings class declares, with a close match."""
from __future__ import annotations

import contextvars
import difflib
import logging
import os
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from hubkit import clock
from hubkit.money import CURRENCIES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "HUB_"
ENV_FILE = ".env"  # in the working directory

Port = Annotated[int, Field(ge=1, le=65535)]
OptionalPort = Annotated[int, Field(ge=0, le=65535)]  # 0: off
NonNegativeInt = Annotated[int, Field(ge=0)]
Money = Annotated[Decimal, Field(allow_inf_nan=False)]

# the mapping this load reads in place of os.environ (tests and the supervisor pass their own)
_environ: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("hub_environ", default=None)


class _EnvironSource(EnvSettingsSource):
    """The environment source, reading the mapping given to `load` (os.environ by default)."""

    def _load_env_vars(self):
        env = _environ.get()
        return parse_env_vars(os.environ if env is None else env, self.case_sensitive, self.env_ignore_empty,
                              self.env_parse_none_str)


def sqlite_in_var_dir(name: str):
    """A default database URL: `<name>.db` in HUB_VAR_DIR (a default_factory of a settings field)."""
    return lambda data: f"sqlite:///{Path(data.get('var_dir', PROJECT_ROOT / 'var')) / (name + '.db')}"


def loopback(port_field: str):
    """A default gRPC target: the loopback at the port another field holds (a default_factory)."""
    return lambda data: f"127.0.0.1:{data.get(port_field, 0)}"


class HubSettings(BaseSettings):
    """The settings every process has. A component's settings class extends this one; a field's
    variable is HUB_ + its name in capitals, unless it names its own (validation_alias)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=ENV_FILE, env_file_encoding="utf-8",
                                      env_ignore_empty=True, extra="ignore", frozen=True, populate_by_name=True)

    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    amqp_management_url: str = ""  # `hub migrate` creates the components' broker users through it
    var_dir: Path = PROJECT_ROOT / "var"
    log_level: str = "INFO"
    timezone: str = clock.DEFAULT_ZONE
    base_currency: str = "CNY"  # the books' currency; documents in another are converted at a dated rate
    metrics_port: OptionalPort = 0
    # the business gauges read from the databases at scrape time (orders, stock value, slow stock, supplier
    # on time, customers) are read again at most this often (hubkit.metrics.Snapshot)
    business_metrics_seconds: PositiveFloat = 60.0
    relay_batch: PositiveInt = 500
    relay_window: PositiveInt = 1000
    # how long a relay that died holds its outbox (a standby, or the relay started again, waits that
    # long before it publishes); renewed every third of it, so an idle relay wakes every 5 s for it
    relay_lease_seconds: PositiveFloat = 15.0
    # an idle relay looks at its outbox this often, woken or not: a wake-up is a hint (rows whose
    # back-off is over, a lost notification); 5 s, with the lease's renewal, keeps it to one look
    relay_idle_poll_seconds: PositiveFloat = 5.0
    consumer_max_attempts: PositiveInt = 5
    # a handler that takes batches gets up to this many events in one transaction: what arrived
    # together, or within consumer_batch_wait_ms of the first (hubkit.inbox.handle_many)
    consumer_batch_max: PositiveInt = 100
    consumer_batch_wait_ms: NonNegativeFloat = 2.0
    # a handler whose work is per batch and whose result nobody waits for (`handle_events(background=True)`,
    # replenishment's stock signals) gathers this long instead
    consumer_background_batch_wait_ms: NonNegativeFloat = 500.0
    consumer_batches_in_flight: PositiveInt = 1  # per handler: the next batch gathers while one is applied
    consumer_prefetch: PositiveInt = 200  # unacked messages per consumer: room for a batch and the next
    retry_base_seconds: PositiveFloat = 1.0
    retry_max_seconds: PositiveFloat = 60.0
    liveness_grace_seconds: PositiveFloat = 60.0  # not ready this long on end: /livez fails (hubkit.health)
    worker_concurrency: PositiveInt = 10
    # connections a process keeps per database (as many again in bursts); by default one for each of
    # its threads that may hold one (hubkit.db.pool_size)
    db_pool_size: PositiveInt | None = None
    # PostgreSQL plans a statement seen often once per connection (hubkit.prepared); false behind a
    # pooler that shares server connections between sessions (PgBouncer in transaction mode)
    db_prepared_statements: bool = True

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if not isinstance(logging.getLevelName(level), int):
            raise ValueError("not a log level; choose from DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known time zone (an IANA name such as Asia/Shanghai)") from None
        return value

    @field_validator("base_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError("not an ISO 4217 currency code such as CNY")
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return init_settings, _EnvironSource(settings_cls), dotenv_settings

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """{variable: field name} of every setting of this class."""
        return {env_name(cls, name): name for name in cls.model_fields}


def env_name(cls: type[HubSettings], field: str) -> str:
    """The variable of a field (given by its name or its alias)."""
    for name, info in cls.model_fields.items():
        if field in (name, info.validation_alias):
            return info.validation_alias.upper() if isinstance(info.validation_alias, str) \
                else ENV_PREFIX + name.upper()
    return str(field).upper() if str(field).upper().startswith(ENV_PREFIX) else ENV_PREFIX + str(field).upper()


class SettingsError(SystemExit):
    """Bad settings: one line per bad variable, naming it and what is wrong; exits the process."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(f"hub: {line}" for line in lines))


def _problem(cls, err: ErrorDetails) -> str:
    message = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    shown = f" (got {got!r})" if isinstance(got, (str, int, float, Decimal)) else ""
    return f"{env_name(cls, str(err['loc'][0])) if err['loc'] else cls.__name__}: {message}{shown}"


def load(cls: type[HubSettings] = HubSettings, env: Mapping[str, str] | None = None,
         env_file: str | Path | None = ENV_FILE) -> HubSettings:
    """Read and validate `cls` from `env` (default os.environ) and the `.env` file; configure the
    one clock with its time zone. A bad value raises SettingsError."""
    token = _environ.set(env)
    try:
        settings = cls(_env_file=env_file)
    except ValidationError as exc:
        # a default that depends on a bad value is no second problem
        lines = list(dict.fromkeys(_problem(cls, err) for err in exc.errors()
                                   if err["type"] != "default_factory_not_called"))
        raise SettingsError(lines) from None
    finally:
        _environ.reset(token)
    clock.configure(settings.timezone)  # the one clock keeps the merchant's calendar from here on
    return settings


def hub_variables(env: Mapping[str, str] | None = None, env_file: str | Path | None = ENV_FILE) -> set[str]:
    """The HUB_* variables set in `env` (default os.environ) and in the `.env` file."""
    from dotenv import dotenv_values

    names = {k.upper() for k, v in (os.environ if env is None else env).items()}
    if env_file and Path(env_file).is_file():
        names |= {k.upper() for k in dotenv_values(env_file)}
    return {n for n in names if n.startswith(ENV_PREFIX)}


def unknown_variables(names: Iterable[str], known: Iterable[str],
                      known_prefixes: Iterable[str] = ()) -> list[str]:
    """One warning per variable in `names` that is not `known`, with a close match if there is one."""
    known, prefixes = set(known), tuple(known_prefixes)
    warnings = []
    for name in sorted(set(names) - known):
        if prefixes and name.startswith(prefixes):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"{name} is set but is no setting of any component{hint}")
    return warnings

