"""One settings object per process, read from the environment once at start-up."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from hubkit import clock

SERVICES = ("order", "inventory", "procurement", "customer", "accounting")
DEFAULT_GRPC_PORTS = {"order": 50051, "inventory": 50052, "procurement": 50053,
                      "customer": 50054, "accounting": 50055}
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(env, name, default=None):
    value = env.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    amqp_uri: str
    var_dir: Path
    db_urls: dict = field(default_factory=dict)
    grpc_ports: dict = field(default_factory=dict)
    grpc_targets: dict = field(default_factory=dict)
    gateway_db_url: str = ""
    gateway_port: int = 8000
    metrics_port: int = 0
    log_level: str = "INFO"
    timezone: str = "Asia/Shanghai"
    relay_batch: int = 500
    relay_window: int = 1000
    relay_lease_seconds: float = 5.0
    consumer_max_attempts: int = 5
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    worker_concurrency: int = 10
    db_pool_size: int = 8           # connections a process keeps per database (as many again in bursts)
    vat_rate: str = "0.13"
    accounting_chart: str = ""      # CSV file; empty: the standard chart
    accounting_accounts: str = ""   # JSON: posting role -> account code overrides
    marketplace_channels: str = "taobao,tmall,jd,pdd,douyin"  # the platform is the debtor
    ledgers: tuple = ()             # external ledgers the connector pushes vouchers to: kingdee, ufida
    ledger_db_url: str = ""
    ledger_grpc_port: int = 50060
    ledger_grpc_target: str = "127.0.0.1:50060"
    shops_db_url: str = ""
    shops_file: str = ""           # JSON with the shops, their credentials and SKU mappings
    shops_poll_seconds: float = 2.0
    shops_grpc_ports: dict = field(default_factory=dict)    # platform -> port of its connector's API
    shops_grpc_targets: dict = field(default_factory=dict)  # what the gateway dials
    reservation_ttl_minutes: int = 0     # an order not shipped by then is abandoned; 0: reservations never lapse
    count_approval_limit: str = "1000.00"  # a count whose differences are worth more waits for approval
    lot_expiry_warning_days: int = 30    # lot_expiring this many days ahead
    cycle_count_skus: int = 0            # the fastest movers counted each month, per warehouse; 0: off

    def db_url(self, service: str) -> str:
        return self.db_urls[service]

    def grpc_target(self, service: str) -> str:
        return self.grpc_targets[service]


def load(env=None) -> Settings:
    settings = _read(os.environ if env is None else env)
    clock.configure(settings.timezone)  # the one clock keeps the merchant's calendar from here on
    return settings


def _read(env) -> Settings:
    var_dir = Path(_env(env, "HUB_VAR_DIR", PROJECT_ROOT / "var"))
    db_urls, ports, targets = {}, {}, {}
    for svc in (*SERVICES, "gateway"):
        db_urls[svc] = _env(env, f"HUB_{svc.upper()}_DB_URL", f"sqlite:///{var_dir / (svc + '.db')}")
    for svc in SERVICES:
        ports[svc] = int(_env(env, f"HUB_{svc.upper()}_GRPC_PORT", DEFAULT_GRPC_PORTS[svc]))
        targets[svc] = _env(env, f"HUB_{svc.upper()}_GRPC_TARGET", f"127.0.0.1:{ports[svc]}")
    return Settings(
        amqp_uri=_env(env, "HUB_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/%2F"),
        var_dir=var_dir,
        db_urls=db_urls,
        grpc_ports=ports,
        grpc_targets=targets,
        gateway_db_url=db_urls.pop("gateway"),
        gateway_port=int(_env(env, "HUB_GATEWAY_PORT", 8000)),
        metrics_port=int(_env(env, "HUB_METRICS_PORT", 0)),
        log_level=_env(env, "HUB_LOG_LEVEL", "INFO"),
        timezone=_env(env, "HUB_TIMEZONE", "Asia/Shanghai"),
        relay_batch=int(_env(env, "HUB_RELAY_BATCH", 500)),
        relay_window=int(_env(env, "HUB_RELAY_WINDOW", 1000)),
        relay_lease_seconds=float(_env(env, "HUB_RELAY_LEASE_SECONDS", 5.0)),
        consumer_max_attempts=int(_env(env, "HUB_CONSUMER_MAX_ATTEMPTS", 5)),
        retry_base_seconds=float(_env(env, "HUB_RETRY_BASE_SECONDS", 1.0)),
        retry_max_seconds=float(_env(env, "HUB_RETRY_MAX_SECONDS", 60.0)),
        worker_concurrency=int(_env(env, "HUB_WORKER_CONCURRENCY", 10)),
        db_pool_size=int(_env(env, "HUB_DB_POOL_SIZE", 8)),
        vat_rate=_env(env, "HUB_VAT_RATE", "0.13"),
        accounting_chart=_env(env, "HUB_ACCOUNTING_CHART", ""),
        accounting_accounts=_env(env, "HUB_ACCOUNTING_ACCOUNTS", ""),
        marketplace_channels=_env(env, "HUB_MARKETPLACE_CHANNELS", "taobao,tmall,jd,pdd,douyin"),
        ledgers=tuple(x.strip() for x in _env(env, "HUB_LEDGERS", "").split(",") if x.strip()),
        ledger_db_url=_env(env, "HUB_LEDGER_DB_URL", f"sqlite:///{var_dir / 'ledger.db'}"),
        ledger_grpc_port=int(_env(env, "HUB_LEDGER_GRPC_PORT", 50060)),
        ledger_grpc_target=_env(env, "HUB_LEDGER_GRPC_TARGET", f"127.0.0.1:{_env(env, 'HUB_LEDGER_GRPC_PORT', 50060)}"),
        shops_db_url=_env(env, "HUB_SHOPS_DB_URL", f"sqlite:///{var_dir / 'shops.db'}"),
        shops_file=_env(env, "HUB_SHOPS_FILE", ""),
        shops_poll_seconds=float(_env(env, "HUB_SHOPS_POLL_SECONDS", 2.0)),
        reservation_ttl_minutes=int(_env(env, "HUB_RESERVATION_TTL_MINUTES", 0)),
        count_approval_limit=_env(env, "HUB_COUNT_APPROVAL_LIMIT", "1000.00"),
        lot_expiry_warning_days=int(_env(env, "HUB_LOT_EXPIRY_WARNING_DAYS", 30)),
        cycle_count_skus=int(_env(env, "HUB_CYCLE_COUNT_SKUS", 0)),
        shops_grpc_ports={p: int(_env(env, f"HUB_SHOPS_{p.upper()}_GRPC_PORT", port))
                          for p, port in (("taobao", 50061), ("jd", 50062))},
        shops_grpc_targets={p: _env(env, f"HUB_SHOPS_{p.upper()}_GRPC_TARGET",
                                    f"127.0.0.1:{_env(env, f'HUB_SHOPS_{p.upper()}_GRPC_PORT', port)}")
                            for p, port in (("taobao", 50061), ("jd", 50062))},
    )
