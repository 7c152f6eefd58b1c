"""Closed periods never change: a business event dated in one is posted on the first day of
the next open period; a manual posting dated in one is refused."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from hub import components
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from services.accounting import chart, domain, handlers
from services.accounting.models import metadata

pytestmark = pytest.mark.integration
RULES = domain.Rules(accounts=chart.DEFAULT_ACCOUNTS, vat_rate=Decimal("0.13"), timezone="Asia/Shanghai")


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, pg_urls, tmp_path):
    url = pg_urls["accounting"] if request.param == "postgresql" else f"sqlite:///{tmp_path / 'acc.db'}"
    components.migrate("accounting", url)
    database = Database(url, metadata)
    handlers.ensure_chart(database, chart.DEFAULT_CHART)
    yield database
    database.dispose()


def _uow(db):
    return UnitOfWork(db, "accounting", "tester", "c")


def test_an_event_dated_in_a_closed_period_posts_on_the_first_day_of_the_next_open_one(db):
    for period in ("2018-05", "2018-06"):
        with _uow(db) as uow:
            handlers.close_period(uow, period)
    receipt = f"r-{id(db)}"
    event = Envelope(type="purchase_received", source="procurement", aggregate_id="po", sequence=1,
                     correlation_id="c", actor="tester", payload={
                         "purchase_order_id": "po", "receipt_id": receipt, "warehouse": "SH",
                         "supplier": {"code": "ACME"}, "total_net": "10.00", "total_tax": "1.30", "total": "11.30",
                         # 20:00 UTC on 31 May is 04:00 on 1 June in Shanghai: June, which is closed too
                         "received_at": "2018-05-31T20:00:00+00:00"})
    with _uow(db) as uow:
        voucher = handlers.post_purchase(uow, event, RULES)
    assert (voucher["period"], voucher["business_date"]) == ("2018-07", date(2018, 7, 1))


def test_a_manual_posting_into_a_closed_period_is_refused_and_writes_nothing(db):
    with _uow(db) as uow:
        handlers.close_period(uow, "2018-09")
    before = handlers.list_vouchers(db, period="2018-09")
    with pytest.raises(domain.PeriodClosed, match="2018-09 is closed"):
        with _uow(db) as uow:
            handlers.record_payment(uow, "paid", "supplier:ACME", "5.00", "2018-09-30", f"ref-{id(db)}", RULES)
    assert handlers.list_vouchers(db, period="2018-09") == before


def test_a_bank_reference_posted_again_is_a_retry_only_with_the_same_counterparty_amount_and_day(db):
    """The comparison with the payment already posted runs on PostgreSQL as on SQLite."""
    from hubkit.errors import Conflict
    reference = f"bank-{id(db)}"
    with _uow(db) as uow:
        first = handlers.record_payment(uow, "paid", "supplier:ACME", "5.00", "2018-10-08", reference, RULES)
    with _uow(db) as uow:
        assert handlers.record_payment(uow, "paid", "supplier:ACME", "5.00", "2018-10-08", reference,
                                       RULES)["id"] == first["id"]
    with pytest.raises(Conflict, match="counterparty supplier:ACME, not supplier:OTHER; business_date 2018-10-08, "
                                       "not 2018-10-09") as refused:
        with _uow(db) as uow:
            handlers.record_payment(uow, "paid", "supplier:OTHER", "5.00", "2018-10-09", reference, RULES)
    assert [e["field"] for e in refused.value.fields] == ["counterparty", "business_date"]


def test_the_chart_is_read_once_and_again_only_for_an_account_not_seen_yet(db):
    from sqlalchemy import event as sa_event

    from hubkit.errors import NotFound
    from services.accounting.models import accounts

    statements: list[str] = []
    sa_event.listen(db.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, params, context, many: statements.append(sql))
    lines = [domain.Line("1002", "in", debit=Decimal("1.00")), domain.Line("9999", "out", credit=Decimal("1.00"))]
    with pytest.raises(NotFound, match=r"\['9999'\] are not in the chart"):
        with _uow(db) as uow:
            handlers.post_manual(uow, "payment", f"chart-{id(db)}-1", date(2018, 11, 1), lines)
    with db.session() as s:
        s.execute(accounts.insert().values(code="9999", name="Suspense", category="asset", normal_balance="debit"))
    with _uow(db) as uow:  # the new account is found: the chart is read again
        handlers.post_manual(uow, "payment", f"chart-{id(db)}-2", date(2018, 11, 1), lines)
    statements.clear()
    with _uow(db) as uow:
        handlers.post_manual(uow, "payment", f"chart-{id(db)}-3", date(2018, 11, 1), lines)
    assert not [sql for sql in statements if "FROM accounts" in sql]  # every account known: not read again
