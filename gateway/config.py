"""The gateway's settings: its database, its HTTP port, and the gRPC targets it dials, besides the
common settings of every process (hubkit.settings.HubSettings).

Each target (HUB_<SERVICE>_GRPC_TARGET, HUB_LEDGER_GRPC_TARGET, HUB_SHOPS_<PLATFORM>_GRPC_TARGET)
defaults to the loopback at that component's port (HUB_<...>_GRPC_PORT, with its default)."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from hubkit.settings import HubSettings, Port, loopback, sqlite_in_var_dir

SERVICES = ("order", "inventory", "procurement", "customer", "accounting")  # what it has stubs for
PLATFORMS = ("taobao", "jd")  # the shop connectors it can ask


class Settings(HubSettings):
    gateway_db_url: str = Field(default_factory=sqlite_in_var_dir("gateway"))
    gateway_port: Port = 8000
    gateway_batch_limit: PositiveInt = 200  # items in one POST /orders/batch or /shipments/batch
    # the most single POST /orders sent on to the order service in one call, when they arrive while the
    # earlier ones are still there (gateway.coalesce); 1: each alone
    gateway_coalesce_orders: int = Field(default=50, ge=1, le=1000)
    # imports (POST /imports/{kind}): the largest file taken (bytes; above it 413 before reading it) and
    # the most rows of one file (an inventory import travels as one gRPC message of at most 4 MiB)
    import_max_bytes: PositiveInt = 20 * 1024 * 1024
    import_max_rows: PositiveInt = 20_000
    # how often the gateway asks the order service whether the hub is behind (backpressure: 429 on new orders)
    intake_refresh_seconds: PositiveFloat = 0.5
    # how long a valid API key is taken without reading the users table again (seconds; 0: a read on every
    # request): a revoked or deactivated key is refused within this bound (gateway.auth.KeyStore)
    gateway_key_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    # how often the gateway audits the books against the stock for Prometheus (seconds; 0: never)
    audit_interval_seconds: float = Field(default=60.0, ge=0)
    # printed documents (GET /print/...): a directory whose files replace the shipped templates of the same
    # name (gateway/areas/printing/templates), and the merchant's details and logo (an image file) they head with
    print_templates_dir: Path | None = None
    merchant_name: str = ""
    merchant_address: str = ""
    merchant_tax_id: str = ""
    merchant_phone: str = ""
    merchant_logo: Path | None = None
    order_grpc_port: Port = 50051
    order_grpc_target: str = Field(default_factory=loopback("order_grpc_port"))
    inventory_grpc_port: Port = 50052
    inventory_grpc_target: str = Field(default_factory=loopback("inventory_grpc_port"))
    procurement_grpc_port: Port = 50053
    procurement_grpc_target: str = Field(default_factory=loopback("procurement_grpc_port"))
    customer_grpc_port: Port = 50054
    customer_grpc_target: str = Field(default_factory=loopback("customer_grpc_port"))
    accounting_grpc_port: Port = 50055
    accounting_grpc_target: str = Field(default_factory=loopback("accounting_grpc_port"))
    ledger_grpc_port: Port = 50060
    ledger_grpc_target: str = Field(default_factory=loopback("ledger_grpc_port"))
    shops_taobao_grpc_port: Port = 50061
    shops_taobao_grpc_target: str = Field(default_factory=loopback("shops_taobao_grpc_port"))
    shops_jd_grpc_port: Port = 50062
    shops_jd_grpc_target: str = Field(default_factory=loopback("shops_jd_grpc_port"))
    notify_grpc_port: Port = 50063
    notify_grpc_target: str = Field(default_factory=loopback("notify_grpc_port"))

    @field_validator("print_templates_dir")
    @classmethod
    def _templates_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError("not a directory")
        return value

    @field_validator("merchant_logo")
    @classmethod
    def _logo(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("not a file")
        return value

    def grpc_target(self, service: str) -> str:
        """What the gateway dials for a service (or `ledger`)."""
        return getattr(self, f"{service}_grpc_target")

    @property
    def shops_grpc_targets(self) -> dict[str, str]:
        """platform -> what the gateway dials for its shop connector."""
        return {p: getattr(self, f"shops_{p}_grpc_target") for p in PLATFORMS}
