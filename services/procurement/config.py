"""The procurement service's settings: its database and its gRPC port, besides the common
settings of every process (hubkit.settings.HubSettings)."""
from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from hubkit.settings import HubSettings, Port, sqlite_in_var_dir


class Settings(HubSettings):
    db_url: str = Field(default_factory=sqlite_in_var_dir("procurement"), validation_alias="HUB_PROCUREMENT_DB_URL")
    grpc_port: Port = Field(50053, validation_alias="HUB_PROCUREMENT_GRPC_PORT")
    # a supplier invoice's price may differ from the order's by this share of it (0.05: 5 %) and still match
    price_tolerance: Decimal = Field(Decimal("0.05"), ge=0, le=1)
