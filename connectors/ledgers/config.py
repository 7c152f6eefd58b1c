"""The ledger connector's settings (`Settings`: which ledgers, its database, its gRPC port, the
accounting api it asks), and the ledgers' credentials: from the environment (HUB_KINGDEE_*,
HUB_UFIDA_*) or a JSON secrets file (HUB_LEDGER_SECRETS_FILE: {"kingdee": {...}, "ufida": {...}});
never from the repository."""
from __future__ import annotations

import json
import os
from dataclasses import MISSING, dataclass, fields
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from hubkit.settings import HubSettings, Port, loopback, sqlite_in_var_dir


class Settings(HubSettings):
    ledgers: Annotated[tuple[Literal["kingdee", "ufida"], ...], NoDecode] = ()  # comma-separated; none: no connector
    ledger_db_url: str = Field(default_factory=sqlite_in_var_dir("ledger"))
    ledger_grpc_port: Port = 50060
    ledger_secrets_file: str = ""  # JSON with the ledgers' credentials
    accounting_grpc_port: Port = 50055
    accounting_grpc_target: str = Field(default_factory=loopback("accounting_grpc_port"))  # for reconciliation

    @field_validator("ledgers", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        return tuple(x.strip() for x in value.split(",") if x.strip()) if isinstance(value, str) else value

    def grpc_target(self, service: str) -> str:
        return getattr(self, f"{service}_grpc_target")


@dataclass(frozen=True)
class KingdeeConfig:
    url: str                # e.g. http://erp.example.com/k3cloud/ (the path up to /k3cloud/)
    acct_id: str            # data centre id
    user_name: str
    app_id: str
    app_secret: str
    account_book: str = "001"
    lcid: int = 2052
    timeout_seconds: float = 5.0
    summary: str = "off"    # "daily": one summary voucher per day, channel and kind (connectors/ledgers/summary.py)
    summary_grace_minutes: int = 120  # after the day's end in HUB_TIMEZONE before it is summed


@dataclass(frozen=True)
class UfidaConfig:
    url: str                # e.g. https://api.yonyouup.com
    from_account: str
    to_account: str
    app_key: str
    app_secret: str
    maker: str = "hub"      # 制单人 recorded on the voucher
    timeout_seconds: float = 5.0
    summary: str = "off"    # as for Kingdee
    summary_grace_minutes: int = 120


KINDS = {"kingdee": KingdeeConfig, "ufida": UfidaConfig}
SUMMARY_MODES = ("off", "daily")  # off: one ledger voucher per hub voucher


def credential_variables() -> set[str]:
    """Every variable a ledger's credentials may be read from."""
    return {f"HUB_{ledger.upper()}_{f.name.upper()}" for ledger, cls in KINDS.items() for f in fields(cls)}


def load(ledgers, env=None) -> dict:
    """The configuration of each ledger in use; a clear error names what is missing."""
    env = os.environ if env is None else env
    secrets = {}
    if env.get("HUB_LEDGER_SECRETS_FILE"):
        with open(env["HUB_LEDGER_SECRETS_FILE"], encoding="utf-8") as f:
            secrets = json.load(f)
    configs = {}
    for ledger in ledgers:
        if ledger not in KINDS:
            raise SystemExit(f"HUB_LEDGERS: unknown ledger {ledger!r}; choose from {', '.join(KINDS)}")
        cls, values = KINDS[ledger], {}
        for f in fields(cls):
            value = env.get(f"HUB_{ledger.upper()}_{f.name.upper()}") or secrets.get(ledger, {}).get(f.name)
            if value not in (None, ""):
                try:
                    values[f.name] = {"int": int, "float": float}.get(f.type, str)(value)
                except ValueError:
                    raise SystemExit(f"hub: HUB_{ledger.upper()}_{f.name.upper()}: not a valid {f.type} "
                                     f"(got {value!r})") from None
        missing = [f.name for f in fields(cls) if f.name not in values and f.default is MISSING]
        if missing:
            raise SystemExit(f"ledger {ledger}: missing {', '.join(f'HUB_{ledger.upper()}_{m.upper()}' for m in missing)}"
                             " (environment or HUB_LEDGER_SECRETS_FILE)")
        if values.get("summary", "off") not in SUMMARY_MODES:
            raise SystemExit(f"hub: HUB_{ledger.upper()}_SUMMARY: one of {', '.join(SUMMARY_MODES)} "
                             f"(got {values['summary']!r})")
        configs[ledger] = cls(**values)
    return configs
