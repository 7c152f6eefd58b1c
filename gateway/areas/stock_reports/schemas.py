"""The stock reports' response models (they take no bodies). Dates are days in the merchant's time
zone; money is a decimal string; absent values are null."""
from __future__ import annotations

from pydantic import Field

from gateway.common.schemas import Money, Number, Reply, WarehouseValue


class OnHandRow(Reply):
    warehouse: str
    sku: str
    bin: str = Field(description="empty when summed over bins")
    lot: str = Field(description="empty when summed over lots or not lot-tracked")
    quantity: int
    received_at: str = Field(description="earliest arrival")
    expires_on: str | None
    status: str | None = Field(description="ok | quarantined | expired; null without a lot")


class OnHand(Reply):
    rows: list[OnHandRow]


class MovementLine(Reply):
    id: int
    occurred_at: str
    kind: str
    document: str
    warehouse: str
    bin: str
    lot: str
    serial: str
    reason: str
    quantity: int
    unit_cost: Money
    value: Money
    reference: str
    actor: str
    balance_quantity: int
    balance_value: Money


class Movements(Reply):
    sku: str
    warehouse: str
    opening_quantity: int = Field(description="before the lines listed")
    opening_value: Money
    omitted: int = Field(description="earlier lines not listed")
    closing_quantity: int
    closing_value: Money
    lines: list[MovementLine]


class AgeingBucket(Reply):
    label: str = Field(description="e.g. 0-30, 31-60, 61-90, over-90")
    quantity: int
    value: Money


class StockAgeingRow(Reply):
    sku: str
    warehouse: str
    quantity: int
    value: Money
    oldest_received_on: str
    buckets: list[AgeingBucket]


class StockAgeing(Reply):
    as_of: str
    rows: list[StockAgeingRow]


class SlowMover(Reply):
    sku: str
    warehouse: str = Field(description="empty: all warehouses together")
    quantity: int
    value: Money
    last_issue_on: str | None = Field(description="null: never issued")
    days_since_issue: int | None = Field(description="null: never issued")


class SlowMovers(Reply):
    as_of: str
    rows: list[SlowMover]


class TurnoverTotal(Reply):
    cogs: Money
    opening_value: Money
    closing_value: Money
    average_value: Money
    turnover: Number | None = Field(description="null when the average is zero")
    days_of_supply: Number | None = Field(description="null when nothing was issued")


class TurnoverRow(Reply):
    key: str = Field(description="the SKU or category")
    cogs: Money
    opening_value: Money
    closing_value: Money
    average_value: Money
    turnover: Number | None = Field(description="null when the average is zero")
    days_of_supply: Number | None = Field(description="null when nothing was issued")


class Turnover(Reply):
    date_from: str
    date_to: str
    days: int
    by: str
    rows: list[TurnoverRow]
    total: TurnoverTotal


class ValueAt(Reply):
    as_of: str
    warehouses: list[WarehouseValue] = Field(description="on hand")
    in_transit: list[WarehouseValue] = Field(description="shipped by a transfer to the warehouse and not received "
                                                         "by as_of, at the cost that left the source")
    total_quantity: int = Field(description="on hand and in transit")
    total_value: Money = Field(description="on hand and in transit: what the inventory accounts hold")
