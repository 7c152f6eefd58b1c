"""Exchange rates through the gateway (the accounting servicer on SQLite behind it): finance enters
them, a document takes the latest rate on or before its day, and a currency without one is refused."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import grpc
import pytest

from hubapi.accounting.v1 import accounting_service_pb2 as acc
from tests.unit.gateway.test_accounting_commands import PROBLEM, hub  # noqa: F401 (the fixture)


def _enter(http, headers, currency, valid_from, rate):
    return http.post("/accounting/exchange-rates", headers=headers,
                     json={"currency": currency, "valid_from": valid_from, "rate": rate})


def _fields(reply):
    assert reply.status_code == 422 and reply.headers["content-type"].startswith(PROBLEM), reply.text
    return {e["field"] for e in reply.json()["errors"]}


def _rate(http, currency, on=""):
    stub = http.app.state.clients.accounting
    return stub.GetExchangeRate(acc.GetExchangeRateRequest(currency=currency, date=on)).rate


def test_a_document_takes_the_latest_rate_on_or_before_its_day(hub):  # noqa: F811
    http, finance, _ = hub
    for valid_from, rate in (("2026-01-01", "7.1000"), ("2026-03-01", "7.2500"), ("2026-06-01", "7.3")):
        assert _enter(http, finance, "USD", valid_from, rate).status_code == 201
    assert _rate(http, "USD", "2026-02-28").rate == "7.1"
    assert _rate(http, "USD", "2026-03-01").rate == "7.25"
    assert (_rate(http, "USD", "2026-05-31").valid_from, _rate(http, "USD", "2099-01-01").rate) == ("2026-03-01", "7.3")
    listed = http.get("/accounting/exchange-rates", params={"currency": "USD"}, headers=finance).json()["rates"]
    assert [(r["valid_from"], r["rate"], r["base_currency"]) for r in listed] == [
        ("2026-06-01", "7.3", "CNY"), ("2026-03-01", "7.25", "CNY"), ("2026-01-01", "7.1", "CNY")]


def test_the_same_day_again_replaces_the_rate(hub):  # noqa: F811
    http, finance, _ = hub
    assert _enter(http, finance, "EUR", "2026-01-01", "7.70").status_code == 201
    assert _enter(http, finance, "EUR", "2026-01-01", "7.80").json()["rate"] == "7.8"
    assert _rate(http, "EUR", "2026-01-02").rate == "7.8"


def test_a_currency_without_a_rate_on_the_day_is_refused_naming_the_currency(hub):  # noqa: F811
    http, finance, _ = hub
    assert _enter(http, finance, "USD", "2026-06-01", "7.3").status_code == 201
    for currency, on in (("USD", "2026-05-31"), ("GBP", "")):
        with pytest.raises(grpc.RpcError) as refused:
            _rate(http, currency, on)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert currency in refused.value.details()
    assert _rate(http, "CNY").rate == "1"  # the books' own currency


@pytest.mark.parametrize("currency, valid_from, rate, field", [
    ("XYZ", "2026-01-01", "7.1", "currency"),       # no ISO 4217 currency
    ("CNY", "2026-01-01", "1", "currency"),         # the books' currency needs no rate
    ("USD", "2026-02-30", "7.1", "valid_from"),
    ("USD", "2026-01-01", "0", "rate"),
])
def test_a_bad_rate_is_refused_and_nothing_is_kept(hub, currency, valid_from, rate, field):  # noqa: F811
    http, finance, db = hub
    assert field in _fields(_enter(http, finance, currency, valid_from, rate))
    assert http.get("/accounting/exchange-rates", headers=finance).json()["rates"] == []


def test_an_import_keeps_all_rates_or_none(hub):  # noqa: F811
    http, finance, _ = hub
    stub = http.app.state.clients.accounting
    rows = [acc.SetExchangeRateRequest(currency="USD", valid_from="2026-01-01", rate="7.1"),
            acc.SetExchangeRateRequest(currency="JPY", valid_from="2026-01-01", rate="0.04781234"),
            acc.SetExchangeRateRequest(currency="usd", valid_from="2026-01-02", rate="7.2")]
    with pytest.raises(grpc.RpcError) as refused:
        stub.ImportExchangeRates(acc.ImportExchangeRatesRequest(rates=rows))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert http.get("/accounting/exchange-rates", headers=finance).json()["rates"] == []
    assert stub.ImportExchangeRates(acc.ImportExchangeRatesRequest(rates=rows[:2])).imported == 2
    assert Decimal(_rate(http, "JPY", date.today().isoformat()).rate) == Decimal("0.04781234")


def test_the_reversal_of_a_converted_voucher_records_its_currency_and_rate(hub):  # noqa: F811
    from hubkit.db import UnitOfWork
    from services.accounting import domain, handlers

    http, finance, db = hub
    lines = [domain.Line("1122", "Sale", debit=Decimal("71.23")), domain.Line("6001", "Sale", credit=Decimal("71.23"))]
    with UnitOfWork(db, "accounting", "test", "c1") as uow:
        posted = handlers.post_manual(uow, "sale", "order-1", date(2026, 11, 20), lines,
                                      conversion=("USD", Decimal("7.1234")))
    reversal = http.post(f"/accounting/vouchers/{posted['id']}/reversal", json={"business_date": "2026-11-21"},
                         headers=finance)
    assert reversal.status_code == 201, reversal.text
    assert (reversal.json()["currency"], reversal.json()["exchange_rate"]) == ("USD", "7.1234")
    original = http.get("/accounting/vouchers", params={"source_id": "order-1"}, headers=finance).json()["vouchers"]
    assert [(v["currency"], v["exchange_rate"]) for v in original] == [("USD", "7.1234")]
