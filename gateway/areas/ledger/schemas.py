"""The ledger area's request and response models."""
from __future__ import annotations

from pydantic import Field, StrictStr

from gateway.common.schemas import Reply, Strict


class AccountMappingIn(Strict):
    ledger_account: StrictStr = Field(..., pattern=r"^[0-9A-Za-z.]{1,32}$")


class LedgerStatus(Reply):
    ledger: str = Field(description="kingdee | ufida")
    pending: int
    pushing: int = Field(description="in flight, or ambiguous (looked up before any new attempt)")
    confirmed: int
    rejected: int
    duplicate_pushes: int = Field(description="save calls beyond the first for a voucher")
    oldest_unposted_seconds: float


class LedgerStatuses(Reply):
    ledgers: list[LedgerStatus]


class Push(Reply):
    ledger: str
    voucher_id: str
    voucher_number: str
    period: str
    external_number: str
    status: str = Field(description="pending | pushing | confirmed | rejected")
    save_calls: int
    lookups: int
    ledger_ref: str
    last_error: str = Field(description="the ledger's own message for a rejection")
    updated_at: str


class Pushes(Reply):
    pushes: list[Push]


class AccountMapping(Reply):
    ledger: str
    hub_account: str
    ledger_account: str
    updated_by: str


class AccountMappings(Reply):
    mappings: list[AccountMapping]
