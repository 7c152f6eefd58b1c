"""The sales KPIs' response models (they take no bodies). Amounts are decimal strings in the books'
currency, net of VAT; days are the merchant's; a percentage with nothing to measure is null."""
from __future__ import annotations

from pydantic import Field

from gateway.common.schemas import Money, Reply


class SalesRow(Reply):
    key: str = Field(description="the day, the week's Monday, the month (YYYY-MM) or the dimension's value; "
                                 "\"\" what the books cannot attribute to it (e.g. commissions by SKU)")
    orders: int = Field(description="orders with a shipment booked")
    units: int = Field(description="units shipped less units returned")
    list_sales: Money = Field(description="the shipped lines at list price (unit price x units)")
    discounts: Money = Field(description="list price less what was charged (discounts, less shipping spread over lines)")
    sales: Money = Field(description="revenue booked on shipment")
    returns: Money = Field(description="revenue reversed by goods sent back")
    refunds: Money = Field(description="revenue reversed by refunds without return (仅退款)")
    rma_refunds: Money = Field(description="revenue reversed by RMA refunds")
    revenue: Money = Field(description="the revenue account (6001) over the period")
    commissions: Money = Field(description="platform commissions and fees booked by settlements (6601)")
    net_revenue: Money = Field(description="revenue less commissions")
    cogs: Money = Field(description="cost of goods (6401) as inventory issued it (FIFO or moving average)")
    margin: Money = Field(description="net revenue less cost of goods")
    margin_pct: str | None = Field(description="margin / net revenue in percent; null without net revenue")


class SalesReport(Reply):
    period_from: str
    period_to: str
    by: str
    rows: list[SalesRow]
    omitted: int = Field(description="rows past the report's limit; the total covers them")
    total: SalesRow


class AbcRow(Reply):
    customer: str = Field(description="<channel>:<the channel's buyer id>")
    grade: str = Field(description="A | B | C")
    orders: int
    revenue: Money
    cogs: Money
    margin: Money = Field(description="revenue less cost of goods (commissions are known per shop, not per buyer)")
    value: Money = Field(description="the measure classified by")
    share: str | None = Field(description="percent of the positive total")
    cumulative_share: str | None


class AbcClass(Reply):
    grade: str
    customers: int
    value: Money


class CustomerAbc(Reply):
    period_from: str
    period_to: str
    by: str
    a: str
    b: str
    rows: list[AbcRow]
    classes: list[AbcClass]
    omitted: int
    unattributed_revenue: Money = Field(description="revenue no customer is known for (adjustments)")
    unattributed_cogs: Money
