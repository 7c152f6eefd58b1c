"""Local simulators of the external ledgers (Kingdee K/3 Cloud WebAPI, Yonyou U8 OpenAPI).

Shared pieces: config loading, exact JSON (amounts as Decimal), amount and period helpers,
the in-memory voucher book every simulator keeps, and the command-line runner.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi.responses import JSONResponse

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
CENT = Decimal("0.01")


# ---------------------------------------------------------------- JSON
def loads(raw: bytes | str) -> Any:
    """JSON with every fractional number as Decimal (no float ever touches an amount)."""
    return json.loads(raw, parse_float=Decimal)


def _default(obj):
    if isinstance(obj, Decimal):
        return float(obj) if obj != obj.to_integral_value() or obj.as_tuple().exponent < 0 else int(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class JSON(JSONResponse):
    """JSONResponse that also writes Decimal (as a JSON number) and keeps Chinese text readable."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, default=_default, separators=(",", ":")).encode("utf-8")


def canonical(obj: Any) -> str:
    """One string per JSON value, independent of key order (for duplicate-payload detection)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))


# ---------------------------------------------------------------- amounts, dates, accounts
def amount(value: Any) -> Decimal:
    """A ledger amount: a number or numeric string, >= 0, at most 2 decimals. ValueError otherwise."""
    if value is None or value == "":
        return Decimal("0")
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(f"金额{value!r}不是数字")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"金额{value!r}不是数字") from None
    if not d.is_finite():
        raise ValueError(f"金额{value!r}不是数字")
    if d < 0:
        raise ValueError(f"金额{value}不能为负数")
    if d != d.quantize(CENT):
        raise ValueError(f"金额{value}超过2位小数")
    return d


def money(d: Decimal) -> str:
    return str(d.quantize(CENT))


def parse_date(value: Any) -> date:
    """'YYYY-MM-DD', also with a time part ('YYYY-MM-DD 00:00:00' / 'YYYY-MM-DDT00:00:00')."""
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}([ T].*)?$", value):
        raise ValueError(f"日期{value!r}格式错误，应为YYYY-MM-DD")
    return date.fromisoformat(value[:10])


def is_detail(code: str, accounts: dict, sep: str = "") -> bool:
    """True if no other known account is a child of code (posting is allowed on detail accounts only)."""
    prefix = code + sep
    return not any(other != code and other.startswith(prefix) for other in accounts)


def normalise_accounts(value: Any) -> dict:
    if isinstance(value, list):
        return {str(code): "" for code in value}
    if isinstance(value, dict):
        return {str(code): str(name) for code, name in value.items()}
    raise ValueError("accounts must be a list of codes or an object code -> name")


def check_periods(value: Any) -> list:
    if not isinstance(value, list) or not all(isinstance(p, str) and PERIOD_RE.match(p) for p in value):
        raise ValueError("closed_periods must be a list of 'YYYY-MM' strings")
    return sorted(set(value))


# ---------------------------------------------------------------- state
class Book:
    """A simulator's whole state (config, sessions, stored vouchers, counters), guarded by one lock."""

    FIRST_ID = 100001
    PUBLIC_KEYS = ("id", "number", "date", "period", "external_key", "entries")

    def __init__(self, config: dict, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.lock = threading.RLock()
        self._initial = self.normalise(copy.deepcopy(config))
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = copy.deepcopy(self._initial)
            self.vouchers: list[dict] = []
            self.sessions: dict[str, dict] = {}
            self._numbers: dict[tuple, int] = {}
            self._next_id = self.FIRST_ID
            self.stats = {"save_calls": 0, "stored": 0, "rejected": 0, "duplicates_refused": 0}

    @staticmethod
    def normalise(config: dict) -> dict:
        """Check and canonicalise a config; subclasses extend it."""
        config["accounts"] = normalise_accounts(config.get("accounts", {}))
        config["closed_periods"] = check_periods(config.get("closed_periods", []))
        return config

    def update_config(self, patch: dict) -> dict:
        with self.lock:
            unknown = sorted(set(patch) - set(self.config))
            if unknown:
                raise ValueError(f"unknown config keys {unknown}; known: {sorted(self.config)}")
            self.config = self.normalise({**copy.deepcopy(self.config), **copy.deepcopy(patch)})
            return self.config

    # sessions / tokens
    def issue(self, ttl: float, **info) -> str:
        with self.lock:
            sid = uuid.uuid4().hex
            self.sessions[sid] = {**info, "expires_at": self.clock() + ttl}
            return sid

    def session(self, sid: str | None) -> dict | None:
        with self.lock:
            found = self.sessions.get(sid or "")
            if found and found["expires_at"] <= self.clock():
                del self.sessions[sid]
                found = None
            return found

    def revoke(self, sid: str | None) -> None:
        with self.lock:
            self.sessions.pop(sid or "", None)

    # vouchers
    def count(self, outcome: str) -> None:
        with self.lock:
            self.stats[outcome] += 1

    def store(self, *, day: date, period: str, prefix: str, external_key: str | None,
              entries: list[dict], raw: Any) -> dict:
        """Store a validated voucher: next id, next number in its period and voucher word."""
        with self.lock:
            seq = self._numbers.get((period, prefix), 0) + 1
            self._numbers[(period, prefix)] = seq
            record = {"id": str(self._next_id), "number": f"{prefix}-{seq:04d}", "date": day.isoformat(),
                      "period": period, "external_key": external_key, "entries": entries, "seq": seq, "raw": raw}
            self._next_id += 1
            self.vouchers.append(record)
            self.stats["stored"] += 1
            return record

    def public(self) -> list[dict]:
        with self.lock:
            return [{k: v[k] for k in self.PUBLIC_KEYS} for v in self.vouchers]


def entry(account: str, debit: Decimal, credit: Decimal, explanation: str, aux: dict) -> dict:
    """One normalised voucher line, as /__sim/vouchers shows it."""
    return {"account": account, "debit": money(debit), "credit": money(credit),
            "explanation": explanation, "aux": aux}


# ---------------------------------------------------------------- command line
def serve(prog: str, create_app: Callable[[dict | None], Any], default_port: int, argv=None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog=prog, description=f"{prog}: a local ledger simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--config", help="JSON file; its keys override the defaults (see simulators/README.md)")
    args = parser.parse_args(argv)
    config = None
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            config = json.load(f)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning")
