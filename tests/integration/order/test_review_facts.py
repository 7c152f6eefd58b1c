"""Review's facts on PostgreSQL and SQLite (services.order.review, issue 13): the SKUs' categories from
inventory's sku_changed, the buyer's message carried onto the order, exposure as what the buyer owes in
the books (voucher_posted) plus their released unshipped orders in the books' currency, and terms that
are in force before the buyer's first order."""
from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest

from contracts import ChannelOrderChanged, CustomerTermsChanged, SkuChanged, VoucherPosted
from hubkit import clock
from hubkit.db import UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import NotFound
from services.order import domain, handlers, holds, review

pytestmark = pytest.mark.integration


def uow(db, actor="ops"):
    return UnitOfWork(db, "order", actor, "test")


def place(db, buyer: str = "", lines=(("TEA", 2, "9.90"),), currency="CNY", rate=None, message="",
          channel="web") -> str:
    cmd = domain.PlaceOrder(channel=channel, shop="s1", external_order_id=uuid.uuid4().hex[:20],
                            buyer={"external_id": buyer} if buyer else {}, currency=currency, exchange_rate=rate,
                            buyer_message=message,
                            lines=[domain.LineInput(sku=sku, quantity=q, unit_price=Decimal(p)) for sku, q, p in lines])
    with uow(db) as u:
        order_id, _ = handlers.place_order(u, cmd)
    return order_id


def answer(db, order_id: str, lines: int = 1) -> None:
    envelope = Envelope(type="stock_reserved", source="inventory", aggregate_id=order_id, sequence=1,
                        correlation_id="c", actor="inventory",
                        payload={"order_id": order_id, "lines": [{"line_no": n, "status": domain.RESERVED,
                                                                  "warehouse": "W1"} for n in range(1, lines + 1)]})
    with uow(db) as u:
        handlers.apply_stock_answer(u, envelope)


def facts(db, order_id: str) -> dict:
    return json.loads(review.decisions(db, order_id)[-1]["facts"])


def sku_changed(sku: str, category: str) -> SkuChanged:
    return SkuChanged(sku=sku, category=category, changed_at=clock.now())


def voucher(*lines: tuple[str, str, str, str]) -> VoucherPosted:
    """A posted voucher whose lines are (account, aux, debit, credit)."""
    return VoucherPosted(
        id=uuid.uuid4().hex, number="记-2026-12-0001", voucher_type="记", period="2026-12", kind="sale",
        source_type="order", source_id=uuid.uuid4().hex, posted_by="accounting", export_status="pending",
        reverses=None, business_date="2026-12-06", posted_at=clock.now(), total="0.00",
        lines=[{"line_no": n, "account": account, "summary": "s", "debit": debit, "credit": credit, "aux": aux,
                "cost_centre": ""} for n, (account, aux, debit, credit) in enumerate(lines, start=1)])


def test_categories_are_the_lines_skus_categories_from_inventorys_sku_master(db):
    tea, cup, plain = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("TEA", "CUP", "PLAIN"))
    with uow(db) as u:
        review.apply_sku_changes(u, [sku_changed(tea, "tea"), sku_changed(cup, "ware"), sku_changed(plain, "")])
    with uow(db) as u:  # a later change of the category wins; the batch's last change of a SKU too
        review.apply_sku_changes(u, [sku_changed(cup, "porcelain"), sku_changed(tea, "gift"), sku_changed(tea, "tea")])
    unknown = f"NEW-{uuid.uuid4().hex[:8]}"  # never announced: no category
    order = place(db, lines=((cup, 1, "5.00"), (tea, 2, "9.90"), (plain, 1, "1.00"), (unknown, 1, "1.00"),
                             (tea, 1, "9.90")))
    answer(db, order, lines=5)
    assert facts(db, order)["categories"] == ["porcelain", "tea"]


def test_a_rule_on_categories_holds_the_orders_with_that_category(db):
    tea, cup = f"TEA-{uuid.uuid4().hex[:8]}", f"CUP-{uuid.uuid4().hex[:8]}"
    with uow(db) as u:
        review.apply_sku_changes(u, [sku_changed(tea, "tea"), sku_changed(cup, "fragile")])
        review.apply_rule_set(u, {"name": "fragile", "otherwise": "approve", "rules": [
            {"id": "fragile", "when": '"fragile" in categories', "actions": [{"kind": "hold", "reason": "needs_review"}]},
            {"id": "message", "when": "buyer_message", "actions": [{"kind": "hold", "reason": "manual"}]}]})
    try:
        with_cup, without = place(db, lines=((tea, 1, "9.90"), (cup, 1, "5.00"))), place(db, lines=((tea, 1, "9.90"),))
        answer(db, with_cup, lines=2)
        answer(db, without)
        assert handlers.get_order(db, with_cup)["status"] == domain.HELD
        assert [h["reason"] for h in handlers.get_order(db, with_cup)["holds"]] == ["needs_review"]
        assert handlers.get_order(db, without)["status"] == domain.RESERVED
        # the buyer's message is a fact a rule reads
        noted = place(db, lines=((tea, 1, "9.90"),), message="请尽快发货")
        answer(db, noted)
        assert [h["reason"] for h in handlers.get_order(db, noted)["holds"]] == ["manual"]
    finally:
        with uow(db) as u:  # the shipped default again, for the module's other tests
            review.apply_rule_set(u, review.default_rule_set().as_json())


def test_the_buyers_message_is_kept_on_the_order_and_is_the_buyer_message_fact(db):
    noted, blank, silent = place(db, message="不要放快递柜"), place(db, message="  "), place(db)
    for order in (noted, blank, silent):
        answer(db, order)
    assert [facts(db, o)["buyer_message"] for o in (noted, blank, silent)] == [True, False, False]
    assert handlers.get_order(db, noted)["buyer_message"] == "不要放快递柜"


def test_a_channels_buyer_message_reaches_the_order(db):
    event = ChannelOrderChanged(channel="jd", shop="jd-1", external_order_id=uuid.uuid4().hex[:20], version=1,
                                status="paid", buyer={"external_id": "pin-1"}, buyer_message="送礼用，不要放价签",
                                lines=[{"sku": "TEA", "quantity": 1, "unit_price": "9.90"}])
    with uow(db) as u:
        order_id, outcome = handlers.apply_channel_order(u, domain.channel_order(event))
    assert outcome == "created" and handlers.get_order(db, order_id)["buyer_message"] == "送礼用，不要放价签"
    without = event.model_copy(update={"external_order_id": uuid.uuid4().hex[:20], "buyer_message": None})
    with uow(db) as u:
        other, _ = handlers.apply_channel_order(u, domain.channel_order(without))
    assert handlers.get_order(db, other)["buyer_message"] == ""


def test_a_message_too_long_is_refused_and_places_nothing(db):
    from hubkit.errors import InvalidArgument
    with pytest.raises(InvalidArgument) as refused:
        place(db, message="x" * 501)
    assert [f["field"] for f in refused.value.fields] == ["buyer_message"]


def test_only_a_voucher_with_a_buyers_receivable_line_is_wanted_by_the_order_worker():
    """The worker acks the others without a transaction (they would change nothing in the projection)."""
    buyer = "customer:web:b1"
    assert review.moves_receivable(voucher(("1122", buyer, "100.00", "0.00"), ("6001", "", "0.00", "100.00")), "1122")
    assert review.moves_receivable(voucher(("1002", "", "30.00", "0.00"), ("1122", buyer, "0.00", "30.00")), "1122")
    assert not review.moves_receivable(voucher(("6401", "", "60.00", "0.00"), ("1405", "", "0.00", "60.00")), "1122")
    assert not review.moves_receivable(voucher(("1122", "platform:taobao/s1", "500.00", "0.00")), "1122")
    assert not review.moves_receivable(voucher(("2203", buyer, "0.00", "1000.00")), "1122")
    assert not review.moves_receivable(voucher(("1122", buyer, "100.00", "0.00")), "1131")


def test_exposure_is_the_books_receivable_plus_released_unshipped_orders_in_the_books_currency(db):
    buyer = uuid.uuid4().hex[:12]
    owes = f"customer:web:{buyer}"
    with uow(db) as u:  # a sale of 100.00, 30.00 paid: 70.00 owed; other accounts and counterparties ignored
        review.apply_vouchers(u, [voucher(("1122", owes, "100.00", "0.00"), ("6001", "", "0.00", "88.50"),
                                          ("22210105", "", "0.00", "11.50"))], "1122")
    with uow(db) as u:
        review.apply_vouchers(u, [voucher(("1002", "", "30.00", "0.00"), ("1122", owes, "0.00", "30.00")),
                                  voucher(("1122", "platform:taobao/s1", "500.00", "0.00")),
                                  voucher(("2203", owes, "0.00", "1000.00"))], "1122")
    pending = place(db, buyer, lines=(("TEA", 1, "1000.00"),))  # not answered yet: not released, not counted
    held = place(db, buyer, lines=(("TEA", 1, "2000.00"),))
    with uow(db) as u:
        holds.place(u, held, "manual", by="ops", note="wait")
    answer(db, held)  # held before review: not counted, and not reviewed
    dollars = place(db, buyer, lines=(("TEA", 2, "5.00"),), currency="USD", rate=Decimal("7.1234"))
    answer(db, dollars)  # released: 10.00 USD = 71.23 in the books
    assert facts(db, dollars)["exposure"] == "141.23"  # 70.00 + 71.23
    shipped = place(db, buyer, lines=(("TEA", 1, "50.00"),))
    answer(db, shipped)
    assert facts(db, shipped)["exposure"] == "191.23"
    with uow(db) as u:  # shipped: the books' voucher says it is owed, the order no longer counts
        handlers.ship_order(u, shipped, "SF", "SF" + uuid.uuid4().hex[:10])
    latest = place(db, buyer, lines=(("TEA", 1, "1.00"),))
    answer(db, latest)
    assert facts(db, latest)["exposure"] == "142.23"  # 70.00 + 71.23 + 1.00 (the sale's voucher not posted yet)
    assert pending and handlers.get_order(db, pending)["status"] == domain.PENDING


def test_exposure_without_a_buyer_id_is_the_order_itself_in_the_books_currency(db):
    order = place(db, lines=(("TEA", 3, "10.00"),), currency="EUR", rate=Decimal("7.8"))
    answer(db, order)
    assert facts(db, order)["exposure"] == "234.00"


def test_the_credit_limit_counts_what_the_buyer_owes_in_the_books(db):
    buyer = uuid.uuid4().hex[:12]
    with uow(db) as u:  # the terms set before the buyer's first order (customer service's set_buyer_terms)
        review.apply_customer_terms(u, CustomerTermsChanged(
            customer_id="c-" + buyer, channel="web", external_id=buyer, tier="b2b", credit_limit=Decimal("500.00"),
            changed_at=clock.now()))
        review.apply_vouchers(u, [voucher(("1122", f"customer:web:{buyer}", "450.00", "0.00"))], "1122")
    first = place(db, buyer, lines=(("TEA", 1, "60.00"),))
    answer(db, first)
    [decided] = review.decisions(db, first)
    assert (decided["outcome"], decided["rule"]) == ("hold", "credit-limit")
    assert json.loads(decided["facts"])["exposure"] == "510.00"
    with uow(db) as u:  # the buyer paid: within the limit again
        review.apply_vouchers(u, [voucher(("1122", f"customer:web:{buyer}", "0.00", "450.00"))], "1122")
    second = place(db, buyer, lines=(("TEA", 1, "60.00"),))
    answer(db, second)
    [decided] = review.decisions(db, second)
    assert decided["outcome"] == "approve" and json.loads(decided["facts"])["exposure"] == "60.00"


def test_a_merged_customers_exposure_and_returns_on_two_channels_are_the_facts_of_each_channel(db, tmp_path):
    """The customer service merges a jd buyer into a taobao buyer; its customer_terms_changed reach
    review's projection (the group), so the jd buyer's debt, open order and return count for a taobao
    order; after the unmerge they no longer do."""
    from hub import components
    from hubkit.db import Database
    from services.customer import handlers as customer_handlers
    from services.customer import profiles
    from services.customer.models import metadata as customer_metadata
    from tests.integration.test_customer_profiles import announced

    url = f"sqlite:///{tmp_path / 'customer.db'}"
    components.migrate("customer", url)
    customers_db = Database(url, customer_metadata, pool_size=2)
    seen = 0

    def deliver():  # the customer service's announcements applied by the order worker, in order
        nonlocal seen
        payloads = announced(customers_db)
        with uow(db, "customer") as u:
            for payload in payloads[seen:]:
                review.apply_customer_terms(u, CustomerTermsChanged.model_validate(payload))
        seen = len(payloads)

    tb, jd = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
    with UnitOfWork(customers_db, "customer", "sales", "c") as cu:
        on_taobao = customer_handlers.set_buyer_terms(cu, "taobao", tb, "b2b", Decimal("500.00"))["id"]
        on_jd = customer_handlers.set_buyer_terms(cu, "jd", jd, "standard", None)["id"]
    deliver()
    with uow(db) as u:  # the jd buyer owes 300.00 in the books
        review.apply_vouchers(u, [voucher(("1122", f"customer:jd:{jd}", "300.00", "0.00"))], "1122")
    returned = place(db, jd, lines=(("TEA", 1, "20.00"),), channel="jd")
    answer(db, returned)
    with uow(db) as u:
        handlers.ship_order(u, returned, "SF", "SF" + uuid.uuid4().hex[:10])
    open_on_jd = place(db, jd, lines=(("TEA", 1, "100.00"),), channel="jd")
    answer(db, open_on_jd)  # released: open, not shipped
    with uow(db) as u:  # then the first one comes back
        handlers.return_order(u, returned, [], "broken")

    alone = place(db, tb, lines=(("TEA", 1, "60.00"),), channel="taobao")
    answer(db, alone)  # not merged yet: the taobao buyer's own
    assert {k: facts(db, alone)[k] for k in ("exposure", "credit_available", "customer_orders", "customer_returns")} \
        == {"exposure": "60.00", "credit_available": "440.00", "customer_orders": 1, "customer_returns": 0}

    with UnitOfWork(customers_db, "customer", "sales", "c") as cu:
        profiles.merge(cu, on_jd, on_taobao, "one company on two marketplaces")
    deliver()
    merged = place(db, tb, lines=(("TEA", 1, "50.00"),), channel="taobao")
    answer(db, merged)
    seen_facts = facts(db, merged)
    # 300.00 owed on jd + 100.00 open on jd + the two taobao orders (60.00 released, 50.00 under review)
    assert (seen_facts["exposure"], seen_facts["credit_available"]) == ("510.00", "-10.00")
    assert (seen_facts["customer_orders"], seen_facts["customer_returns"], seen_facts["return_rate"]) == \
        (4, 1, "0.2500")
    assert review.decisions(db, merged)[-1]["rule"] == "credit-limit"  # over the customer's limit: held
    # the jd buyer's own orders see the customer's limit and the taobao orders too
    on_jd_now = place(db, jd, lines=(("TEA", 1, "1.00"),), channel="jd")
    answer(db, on_jd_now)
    assert (facts(db, on_jd_now)["customer_tier"], facts(db, on_jd_now)["exposure"]) == ("b2b", "461.00")

    with UnitOfWork(customers_db, "customer", "sales", "c") as cu:
        profiles.unmerge(cu, on_jd, "two companies after all")
    deliver()
    apart = place(db, tb, lines=(("TEA", 1, "5.00"),), channel="taobao")
    answer(db, apart)
    assert (facts(db, apart)["exposure"], facts(db, apart)["customer_returns"]) == ("65.00", 0)
    customers_db.dispose()


def test_below_list_price_compares_each_lines_paid_unit_price_with_the_list_in_force(db):
    from services.order import prices
    tea, cup = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("TEA", "CUP"))
    plain = place(db, lines=((tea, 2, "9.90"),))
    answer(db, plain)
    assert facts(db, plain)["below_list_price"] is False  # no list: false, the default rules unchanged

    with uow(db) as u:
        prices.put(u, prices.checked(f"R-{tea}", "Retail", "", "", "", "", "", [(tea, "10.00", 1), (tea, "9.00", 10),
                                                                                (cup, "5.00", 1)], "CNY"))
        prices.put(u, prices.checked(f"WEB-{tea}", "Web", "", "web", "", "", "2000-01-01", [(tea, "1.00", 1)], "CNY"))
    below = place(db, lines=((cup, 1, "5.00"), (tea, 2, "9.90")))  # 9.90 < 10.00 (the expired web list: not)
    at_break = place(db, lines=((tea, 10, "9.00"),))  # 10 units: the 9.00 break applies
    other = place(db, lines=((tea, 2, "9.90"),), currency="USD", rate="7.1")  # a CNY list says nothing of USD
    discounted = place(db, lines=((tea, 1, "12.00"),))
    for order_id in (below, at_break, other, discounted):
        answer(db, order_id, lines=2 if order_id == below else 1)
    assert [facts(db, o)["below_list_price"] for o in (below, at_break, other)] == [True, False, False]
    assert facts(db, discounted)["below_list_price"] is False


def test_a_review_reads_its_facts_in_four_statements(db):
    """The facts of a batch's orders, for buyers with terms, a group, a receivable, orders and returns,
    are read in four statements (the lines with their categories, the price lists, the terms with the
    group's members, exposure with the orders and returns in the window), nine before, and the answer
    itself reads one, not two; the facts are the
    same (test_a_merged_customers_... checks their values on two channels)."""
    from sqlalchemy import event as sa_event

    b1, b2, group = (uuid.uuid4().hex[:12] for _ in range(3))
    with uow(db, "customer") as u:
        for channel, buyer in (("web", b1), ("jd", b2)):
            review.apply_customer_terms(u, CustomerTermsChanged(
                customer_id=uuid.uuid4().hex, channel=channel, external_id=buyer, tier="b2b",
                credit_limit="500.00", group_id=group, changed_at=clock.now()))
        review.apply_vouchers(u, [voucher(("1122", f"customer:jd:{b2}", "30.00", "0.00"))], "1122")
    order_id = place(db, b1, lines=(("TEA", 1, "20.00"),))
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", seen)
    try:
        answer(db, order_id)  # its stock answer: the order worker reviews it in the same transaction
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", seen)
    # (the price lists' one or two, as other tests left them, aside)
    reads = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "(", "WITH")) and "price_list" not in s]
    if db.engine.dialect.name == "postgresql":  # the answer is one statement: its lines, its status, its read
        assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE ORDER_LINES")]
    # the answer's own one (its lines' answers, which also tell an unknown order), then review's: the
    # candidates, the rule set, lines with categories, terms with members, exposure with orders and returns
    # (twelve before: the order known, categories, members, receivables and returns each alone)
    assert len(reads) == 6, "\n".join(reads)
    assert (facts(db, order_id)["exposure"], facts(db, order_id)["customer_orders"]) == ("50.00", 1)
    with pytest.raises(NotFound):  # an answer for an order unknown here is refused and writes nothing
        answer(db, "unknown-order")
