"""Ledger credentials: from the environment (HUB_KINGDEE_*, HUB_UFIDA_*) or a JSON secrets file
(HUB_LEDGER_SECRETS_FILE: {"kingdee": {...}, "ufida": {...}}); never from the repository."""
from __future__ import annotations

import json
import os
from dataclasses import MISSING, dataclass, fields


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


@dataclass(frozen=True)
class UfidaConfig:
    url: str                # e.g. https://api.yonyouup.com
    from_account: str
    to_account: str
    app_key: str
    app_secret: str
    maker: str = "hub"      # 制单人 recorded on the voucher
    timeout_seconds: float = 5.0


KINDS = {"kingdee": KingdeeConfig, "ufida": UfidaConfig}


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
                values[f.name] = {"int": int, "float": float}.get(f.type, str)(value)
        missing = [f.name for f in fields(cls) if f.name not in values and f.default is MISSING]
        if missing:
            raise SystemExit(f"ledger {ledger}: missing {', '.join(f'HUB_{ledger.upper()}_{m.upper()}' for m in missing)}"
                             " (environment or HUB_LEDGER_SECRETS_FILE)")
        configs[ledger] = cls(**values)
    return configs
