"""The inventory service's settings: its database, its gRPC port and its stock rules, besides the
common settings of every process (hubkit.settings.HubSettings)."""
from __future__ import annotations

from decimal import Decimal

from pydantic import Field, PositiveInt, field_validator

from hubkit.settings import HubSettings, Money, NonNegativeInt, Port, sqlite_in_var_dir
from services.inventory import walk


class Settings(HubSettings):
    db_url: str = Field(default_factory=sqlite_in_var_dir("inventory"), validation_alias="HUB_INVENTORY_DB_URL")
    grpc_port: Port = Field(50052, validation_alias="HUB_INVENTORY_GRPC_PORT")
    reservation_ttl_minutes: NonNegativeInt = 0  # an order not shipped by then is abandoned; 0: never lapse
    count_approval_limit: Money = Field(Decimal("1000.00"), ge=0)  # a count worth more waits for approval
    lot_expiry_warning_days: NonNegativeInt = 30  # lot_expiring this many days ahead
    slow_stock_days: PositiveInt = 90  # hub_inventory_slow_stock_*: stock older than this, not sold since
    cycle_count_skus: NonNegativeInt = 0  # the fastest movers counted each month, per warehouse; 0: off
    # pick waves (services.inventory.waves): how bin codes read along the walk, and a wave's limits
    bin_walk_pattern: str = walk.DEFAULT_PATTERN
    wave_max_orders: PositiveInt = 50
    wave_max_lines: PositiveInt = 200
    # incoming inspection (services.inventory.inspections): every lot-tracked purchase receipt line, or
    # (inspect_lot_tracked false) only those of the listed SKUs and suppliers (JSON lists of codes)
    inspect_lot_tracked: bool = True
    inspect_skus: list[str] = Field(default_factory=list)
    inspect_suppliers: list[str] = Field(default_factory=list)

    @field_validator("bin_walk_pattern")
    @classmethod
    def _walkable(cls, value: str) -> str:
        return walk.check_pattern(value)
