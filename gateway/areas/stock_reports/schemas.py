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
    category: str
    warehouse: str = Field(description="the row's with per_warehouse, else the filter (empty: all together)")
    quantity: int
    value: Money
    last_issue_on: str | None = Field(description="the last sale; null: never issued")
    days_since_issue: int | None = Field(description="null: never issued")
    oldest_received_on: str | None = Field(description="when the oldest unit on hand arrived (FIFO layers); "
                                                        "null: no cost layer")
    days_in_stock: int | None = Field(description="days from oldest_received_on to as_of")


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
    warehouse: str = Field(description="the filter; empty: all")
    category: str = Field(description="the filter; empty: all")
    explanation: str = Field(description="how each figure is computed from the others")
    rows: list[TurnoverRow]
    total: TurnoverTotal


class ValueAt(Reply):
    as_of: str
    warehouses: list[WarehouseValue] = Field(description="on hand")
    in_transit: list[WarehouseValue] = Field(description="shipped by a transfer to the warehouse and not received "
                                                         "by as_of, at the cost that left the source")
    total_quantity: int = Field(description="on hand and in transit")
    total_value: Money = Field(description="on hand and in transit: what the inventory accounts hold")


class ForecastRow(Reply):
    sku: str
    category: str
    history: list[int] = Field(description="units sold per day (issues), oldest first, history_from..history_to")
    history_units: int
    forecast: list[str] = Field(description="units per day ahead (as_of + 1 ...), 2 places")
    total: str = Field(description="units over the horizon, 2 places")


class SalesForecast(Reply):
    as_of: str = Field(description="the last day of history")
    horizon: int
    method: str
    params: dict[str, float | int] = Field(description="the method's parameters in force, defaults included")
    history_days: int
    history_from: str
    history_to: str
    warehouse: str = Field(description="empty: all warehouses together")
    rows: list[ForecastRow]
