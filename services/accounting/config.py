"""The accounting service's settings: its database, its gRPC port and its posting rules, besides
the common settings of every process (hubkit.settings.HubSettings)."""
from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from hubkit.settings import HubSettings, Money, Port, sqlite_in_var_dir


class Settings(HubSettings):
    db_url: str = Field(default_factory=sqlite_in_var_dir("accounting"), validation_alias="HUB_ACCOUNTING_DB_URL")
    grpc_port: Port = Field(50055, validation_alias="HUB_ACCOUNTING_GRPC_PORT")
    vat_rate: Money = Field(Decimal("0.13"), ge=0, lt=1)
    accounting_chart: str = ""  # CSV file; empty: the standard chart
    accounting_accounts: str = ""  # JSON: posting role -> account code overrides
    marketplace_channels: str = "taobao,tmall,jd,pdd,douyin"  # the platform is the debtor
