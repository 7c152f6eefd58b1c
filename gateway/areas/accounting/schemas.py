"""Accounting's request and response models."""
from __future__ import annotations

from pydantic import Field, StrictStr

from gateway.common.schemas import AMOUNT, CODE, DAY, OPT_DAY, Money, Number, Reply, Strict, Voucher


class PaymentIn(Strict):
    direction: StrictStr = Field(..., pattern=r"^(received|paid)$")
    counterparty: StrictStr = Field(..., max_length=128, examples=["supplier:TEA-GARDEN", "platform:taobao/flagship"])
    amount: StrictStr = Field(..., pattern=AMOUNT)
    business_date: StrictStr = Field(..., pattern=DAY)
    reference: StrictStr = Field(..., min_length=1, max_length=64)


class SettlementIn(Strict):
    channel: StrictStr = Field(..., pattern=CODE)
    shop: StrictStr = Field(..., pattern=CODE)
    reference: StrictStr = Field(..., min_length=1, max_length=64)
    business_date: StrictStr = Field(..., pattern=DAY)
    gross: StrictStr = Field(..., pattern=AMOUNT)
    commission: StrictStr = Field("0", pattern=AMOUNT)
    fees: StrictStr = Field("0", pattern=AMOUNT)


class OpeningLineIn(Strict):
    account: StrictStr = Field(..., pattern=r"^[0-9A-Za-z.]{1,32}$")
    debit: StrictStr = Field("0", pattern=AMOUNT)
    credit: StrictStr = Field("0", pattern=AMOUNT)
    aux: StrictStr = Field("", max_length=128)


class OpeningIn(Strict):
    business_date: StrictStr = Field(..., pattern=DAY)
    lines: list[OpeningLineIn] = Field(..., min_length=1, max_length=5000)


class ReversalIn(Strict):
    business_date: StrictStr = Field("", pattern=OPT_DAY)


class Account(Reply):
    code: str
    name: str
    category: str = Field(description="asset | liability | equity | cost | revenue | expense")
    normal_balance: str = Field(description="debit | credit")


class Accounts(Reply):
    accounts: list[Account]


class Vouchers(Reply):
    vouchers: list[Voucher]


class TrialBalanceRow(Reply):
    account: str
    name: str
    opening: Money
    debit: Money
    credit: Money
    closing: Money


class TrialBalance(Reply):
    period: str
    balanced: bool
    total_debit: Money
    total_credit: Money
    rows: list[TrialBalanceRow]


class LedgerMonth(Reply):
    account: str
    name: str
    period: str
    opening: Money
    debit: Money
    credit: Money
    closing: Money
    year_debit: Money
    year_credit: Money


class GeneralLedger(Reply):
    months: list[LedgerMonth]


class DetailLine(Reply):
    business_date: str
    voucher_number: str
    voucher_id: str
    summary: str
    debit: Money
    credit: Money
    balance: Money
    aux: str
    cost_centre: str


class AccountDetail(Reply):
    account: str
    name: str
    period: str
    opening: Money
    debit: Money
    credit: Money
    closing: Money
    lines: list[DetailLine]


class AgeingRow(Reply):
    counterparty: str
    balance: Money
    buckets: dict[str, Money] = Field(description="\"0-30\", \"31-60\", \"61-90\", \"over-90\"")
    oldest_date: str | None


class Ageing(Reply):
    account: str
    as_of: str
    rows: list[AgeingRow]


class ClosedPeriod(Reply):
    period: str
    status: str
    closed_by: str


RATE = r"^\d{1,6}(\.\d{1,8})?$"


class ExchangeRateIn(Strict):
    currency: StrictStr = Field(..., pattern=r"^[A-Z]{3}$", examples=["USD"])
    valid_from: StrictStr = Field(..., pattern=DAY, description="valid from this day until the currency's next rate")
    rate: StrictStr = Field(..., pattern=RATE, examples=["7.1234"],
                            description="units of the books' currency per unit of `currency`")


class ExchangeRate(Reply):
    currency: str
    valid_from: str | None = Field(description="null for the books' own currency (rate 1)")
    rate: Number
    base_currency: str = Field(description="the books' currency")


class ExchangeRates(Reply):
    rates: list[ExchangeRate]
