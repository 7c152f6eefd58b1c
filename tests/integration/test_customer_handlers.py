"""The customer service on PostgreSQL and SQLite: order events applied through handle_once,
migrations that match the models, and the gRPC servicer."""
from __future__ import annotations

import json
import threading
import uuid
from concurrent import futures
from datetime import datetime, timezone
from decimal import Decimal

import grpc
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from contracts import CATALOG
from hub import components
from hubapi.customer.v1 import customer_service_pb2 as pb
from hubapi.customer.v1 import customer_service_pb2_grpc as pb_grpc
from hubkit import events
from hubkit.db import Database
from hubkit.envelope import Envelope
from hubkit.errors import InvalidArgument, NotFound
from hubkit.grpc_server import FIELD_ERRORS_KEY
from hubkit.inbox import PredecessorMissing, handle_once
from services.customer import handlers
from services.customer.grpc_server import CustomerServicer
from services.customer.models import after_sales, customer_orders, customers, metadata
from tests.support import infra

pytestmark = pytest.mark.integration
PLACED, SHIPPED = "customer.order_placed", "customer.order_shipped"


@pytest.fixture(scope="module")
def pg_customer_url():
    prefix = infra.session_name()
    url = infra.create_databases(prefix, ["customer"])["customer"]
    components.migrate("customer", url)
    yield url
    infra.drop_databases(prefix, ["customer"])


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_customer_url")
    url = f"sqlite:///{tmp_path / 'customer.db'}"
    components.migrate("customer", url)
    return url


@pytest.fixture
def db(url):
    database = Database(url, metadata, pool_size=4)
    yield database
    database.dispose()


def _uid() -> str:
    return uuid.uuid4().hex


def placed(order_id, buyer, total="10.00", placed_at="2024-03-01T08:00:00+00:00", channel="taobao",
           currency="CNY", sequence=1):
    payload = {"order_id": order_id, "channel": channel, "shop": "shop-1", "external_order_id": "E" + order_id,
               "currency": currency, "total": total, "placed_at": placed_at, "buyer": buyer,
               "shipping_address": {"city": "Shanghai"},
               "lines": [{"line_no": 1, "sku": "SKU-1", "quantity": 1, "unit_price": total}]}
    return Envelope(type="order_placed", source="order", aggregate_id=order_id, sequence=sequence,
                    payload=payload, correlation_id="c", actor="t")


def shipped(order_id, sequence=3, shipped_at="2024-03-02T09:00:00+00:00"):
    return Envelope(type="order_shipped", source="order", aggregate_id=order_id, sequence=sequence,
                    payload={"order_id": order_id, "shipped_at": shipped_at, "carrier": "SF",
                             "tracking_number": "SF123", "total": "10.00", "currency": "CNY"},
                    correlation_id="c", actor="t")


def apply_placed(db, env):
    return handle_once(db, "customer", PLACED, env, handlers.record_order_placed)


def apply_shipped(db, env):
    return handle_once(db, "customer", SHIPPED, env, handlers.record_order_shipped)


def only_customer(db, **criteria) -> dict:
    found = handlers.find_customers(db, **criteria)
    assert len(found) == 1, found
    return found[0]


def count(db, table, *where) -> int:
    with db.reader() as s:
        return s.execute(select(func.count()).select_from(table).where(*where)).scalar()


def test_migrations_match_the_models(url):
    db = Database(url, metadata)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    db.dispose()
    assert diff == []


def test_a_customer_is_created_once_even_when_the_event_is_applied_twice(db):
    buyer_id, order_id = _uid(), _uid()
    env = placed(order_id, {"external_id": buyer_id, "name": "Li Si", "phone": "13900139000", "email": ""},
                 total="19.90")
    assert apply_placed(db, env)
    assert not apply_placed(db, env)  # the same delivery again
    # the same order re-published under a new event id counts once too
    again = placed(order_id, {"external_id": buyer_id}, total="19.90", sequence=2)
    assert apply_placed(db, again) is True
    c = only_customer(db, channel="taobao", external_id=buyer_id)
    assert c["order_count"] == 1
    assert c["lifetime_value"] == Decimal("19.90") and isinstance(c["lifetime_value"], Decimal)
    assert (c["name"], c["phone"], c["email"]) == ("Li Si", "13900139000", "")
    assert count(db, customers, customers.c.external_id == buyer_id) == 1
    assert count(db, customer_orders, customer_orders.c.order_id == order_id) == 1


def test_a_second_order_of_the_same_buyer_updates_the_same_customer(db):
    buyer_id, first, second, older = _uid(), _uid(), _uid(), _uid()
    apply_placed(db, placed(first, {"external_id": buyer_id, "name": "Wang", "phone": "13700137000"},
                            total="10.10", placed_at="2024-03-01T08:00:00Z"))
    apply_placed(db, placed(second, {"external_id": buyer_id, "name": "Wang Wu", "phone": "",
                                     "email": "ww@example.com"},
                            total="0.20", placed_at="2024-03-05T08:00:00+08:00"))
    # an older order arriving late: its non-empty values do not overwrite newer ones,
    # its amount and time still count
    apply_placed(db, placed(older, {"external_id": buyer_id, "name": "W.", "phone": "13600136000",
                                    "email": "old@example.com"},
                            total="0.70", placed_at="2024-02-01T00:00:00Z"))
    c = only_customer(db, channel="taobao", external_id=buyer_id)
    assert (c["name"], c["phone"], c["email"]) == ("Wang Wu", "13700137000", "ww@example.com")
    assert c["order_count"] == 3 and c["lifetime_value"] == Decimal("11.00")
    assert handlers.get_customer(db, c["id"])["first_order_at"].replace(tzinfo=timezone.utc) \
        == datetime(2024, 2, 1, tzinfo=timezone.utc)
    full = handlers.get_customer(db, c["id"])
    assert [o["order_id"] for o in full["orders"]] == [second, first, older]  # newest first
    assert all(o["status"] == "placed" for o in full["orders"])


def test_buyers_without_an_id_are_known_by_phone_or_are_anonymous(db):
    phone = "1" + str(uuid.uuid4().int)[:10]
    a, b, c1, c2 = _uid(), _uid(), _uid(), _uid()
    apply_placed(db, placed(a, {"external_id": "", "phone": phone, "name": "Zhao"}, channel="jd"))
    apply_placed(db, placed(b, {"phone": phone[:3] + " " + phone[3:]}, channel="jd"))
    by_phone = only_customer(db, phone=phone)
    assert by_phone["order_count"] == 2 and by_phone["external_id"] == "" and by_phone["name"] == "Zhao"
    apply_placed(db, placed(c1, {}, channel="jd"))
    apply_placed(db, placed(c2, {"external_id": "", "phone": "", "name": ""}, channel="jd"))
    one, two = only_customer(db, order_id=c1), only_customer(db, order_id=c2)
    assert one["id"] != two["id"] and one["order_count"] == two["order_count"] == 1


def test_order_shipped_before_order_placed_is_retried_later_and_leaves_nothing(db):
    order_id, buyer_id = _uid(), _uid()
    early = shipped(order_id)
    with pytest.raises(PredecessorMissing):
        apply_shipped(db, early)
    inbox = metadata.tables["inbox"]
    assert count(db, inbox, inbox.c.event_id == early.event_id) == 0
    assert count(db, customer_orders, customer_orders.c.order_id == order_id) == 0
    assert count(db, customers, customers.c.external_id == buyer_id) == 0

    assert apply_placed(db, placed(order_id, {"external_id": buyer_id}))
    assert apply_shipped(db, early)  # the retry, now that its predecessor is in
    assert not apply_shipped(db, early)
    c = handlers.get_customer(db, only_customer(db, order_id=order_id)["id"])
    (order,) = c["orders"]
    assert order["status"] == "shipped"
    assert order["shipped_at"].replace(tzinfo=timezone.utc) == datetime(2024, 3, 2, 9, tzinfo=timezone.utc)
    assert c["order_count"] == 1


def test_a_poison_event_changes_nothing(db):
    order_id = _uid()
    env = placed(order_id, {"external_id": _uid()}, total="1.005")
    with pytest.raises(InvalidArgument):
        apply_placed(db, env)
    assert count(db, customer_orders, customer_orders.c.order_id == order_id) == 0


def test_concurrent_first_orders_of_a_new_buyer_make_one_customer(db):
    buyer_id = _uid()
    envs = [placed(_uid(), {"external_id": buyer_id, "name": f"n{i}"}, total="1.01",
                   placed_at=f"2024-04-01T00:00:{i:02d}Z") for i in range(8)]
    start = threading.Barrier(len(envs))
    errors = []

    def run(env):
        try:
            start.wait()
            apply_placed(db, env)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(e,)) for e in envs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    c = only_customer(db, channel="taobao", external_id=buyer_id)
    assert c["order_count"] == 8 and c["lifetime_value"] == Decimal("8.08") and c["name"] == "n7"


def test_queries_refuse_bad_input(db):
    with pytest.raises(NotFound):
        handlers.get_customer(db, _uid())
    with pytest.raises(InvalidArgument) as caught:
        handlers.find_customers(db)
    assert caught.value.fields


@pytest.fixture
def stub(db):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_CustomerServiceServicer_to_server(CustomerServicer(db), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield pb_grpc.CustomerServiceStub(channel)
    channel.close()
    server.stop(None)


def test_grpc_get_and_find(db, stub):
    buyer_id, o1, o2 = _uid(), _uid(), _uid()
    apply_placed(db, placed(o1, {"external_id": buyer_id, "name": "Sun"}, total="12.34",
                            placed_at="2024-03-01T08:00:00Z"))
    apply_placed(db, placed(o2, {"external_id": buyer_id}, total="0.66", placed_at="2024-03-03T08:00:00Z"))
    apply_shipped(db, shipped(o1))
    found = stub.FindCustomers(pb.FindCustomersRequest(channel="taobao", external_id=buyer_id)).customers
    assert len(found) == 1 and not found[0].orders
    c = stub.GetCustomer(pb.GetCustomerRequest(id=found[0].id)).customer
    assert (c.external_id, c.name, c.order_count) == (buyer_id, "Sun", 2)
    assert (c.lifetime_value.currency_code, c.lifetime_value.units, c.lifetime_value.nanos) == ("CNY", 13, 0)
    assert c.first_order_at == "2024-03-01T08:00:00+00:00" and c.last_order_at == "2024-03-03T08:00:00+00:00"
    assert [o.order_id for o in c.orders] == [o2, o1]
    assert (c.orders[1].status, c.orders[1].shipped_at, c.orders[0].shipped_at) == \
        ("shipped", "2024-03-02T09:00:00+00:00", "")
    assert (c.orders[1].total.units, c.orders[1].total.nanos) == (12, 340_000_000)
    assert [x.id for x in stub.FindCustomers(pb.FindCustomersRequest(order_id=o2)).customers] == [c.id]

    with pytest.raises(grpc.RpcError) as caught:
        stub.GetCustomer(pb.GetCustomerRequest(id=_uid()))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        stub.FindCustomers(pb.FindCustomersRequest(limit=5))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = json.loads(dict(caught.value.trailing_metadata())[FIELD_ERRORS_KEY])
    assert fields and fields[0]["field"]


def test_grpc_sets_a_buyers_terms_before_their_first_order_and_refuses_bad_ones(db, stub):
    buyer_id = _uid()
    c = stub.SetBuyerTerms(pb.SetBuyerTermsRequest(channel="storefront", external_id=buyer_id, tier="vip",
                                                   credit_limit="8000.00")).customer
    assert (c.channel, c.external_id, c.order_count, c.tier, c.credit_limit, c.first_order_at) == (
        "storefront", buyer_id, 0, "vip", "8000.00", "")
    for bad in (dict(channel="", external_id=buyer_id, tier="vip"),
                dict(channel="storefront", external_id=buyer_id, tier="vip", credit_limit="lots")):
        with pytest.raises(grpc.RpcError) as caught:
            stub.SetBuyerTerms(pb.SetBuyerTermsRequest(**bad))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert stub.FindCustomers(pb.FindCustomersRequest(channel="storefront", external_id=buyer_id)).customers[0] \
        .credit_limit == "8000.00"


def test_terms_are_set_and_announced_once_each_change(db):
    from hubkit.db import UnitOfWork

    outbox = metadata.tables["outbox"]
    buyer_id = _uid()
    apply_placed(db, placed(_uid(), {"external_id": buyer_id, "name": "Li Si"}))
    customer_id = only_customer(db, channel="taobao", external_id=buyer_id)["id"]
    announced = outbox.c.event_type == "customer_terms_changed"
    before = count(db, outbox, announced)
    for _ in range(2):  # the same terms again change nothing and announce nothing
        with UnitOfWork(db, "customer", "finance-1", "c") as uow:
            customer = handlers.set_terms(uow, customer_id, "vip", Decimal("5000.00"))
    assert (customer["tier"], customer["credit_limit"]) == ("vip", Decimal("5000.00"))
    with UnitOfWork(db, "customer", "finance-1", "c") as uow:
        handlers.set_terms(uow, customer_id, "vip", None)  # no limit any more
    assert count(db, outbox, announced) == before + 2
    with db.reader() as s:
        payload = json.loads(s.execute(select(outbox.c.body).where(announced).order_by(outbox.c.id.desc())
                                       .limit(1)).scalar())["payload"]
    assert payload | {"changed_at": None} == {"customer_id": customer_id, "channel": "taobao", "external_id": buyer_id,
                                              "tier": "vip", "credit_limit": None, "changed_at": None,
                                              "group_id": customer_id}
    with pytest.raises(InvalidArgument) as refused, UnitOfWork(db, "customer", "finance-1", "c") as uow:
        handlers.set_terms(uow, customer_id, "", Decimal("-1"))
    assert {f["field"] for f in refused.value.fields} == {"tier", "credit_limit"}
    with pytest.raises(NotFound), UnitOfWork(db, "customer", "finance-1", "c") as uow:
        handlers.set_terms(uow, "nobody", "vip", None)


def test_a_buyers_terms_are_set_before_their_first_order_which_finds_them(db):
    """A business customer's limit exists before their first order: the buyer becomes a customer without
    orders, announced for the order service's projection; their first order is counted on that customer
    and sets its currency."""
    from contracts import CustomerTermsChanged
    from hubkit.db import UnitOfWork

    outbox = metadata.tables["outbox"]
    buyer_id = _uid()
    with UnitOfWork(db, "customer", "finance-1", "c") as uow:
        before = handlers.set_buyer_terms(uow, "storefront", buyer_id, "b2b", Decimal("20000.00"))
    assert (before["order_count"], before["orders"], before["tier"], before["credit_limit"]) == (
        0, [], "b2b", Decimal("20000.00"))
    with db.reader() as s:
        bodies = [json.loads(b) for b in s.execute(select(outbox.c.body).where(
            outbox.c.event_type == "customer_terms_changed")).scalars()]
    [body] = [b for b in bodies if b["payload"]["customer_id"] == before["id"]]
    announced = CustomerTermsChanged.model_validate(body["payload"])  # what the order service applies
    assert (announced.channel, announced.external_id, announced.credit_limit) == (
        "storefront", buyer_id, Decimal("20000.00"))
    apply_placed(db, placed(_uid(), {"external_id": buyer_id, "name": "Acme Ltd"}, total="120.50",
                            channel="storefront", currency="USD"))
    after = only_customer(db, channel="storefront", external_id=buyer_id)
    assert (after["id"], after["order_count"], after["currency"], after["lifetime_value"], after["tier"]) == (
        before["id"], 1, "USD", Decimal("120.50"), "b2b")
    with UnitOfWork(db, "customer", "finance-1", "c") as uow:  # the same buyer again: the same customer
        again = handlers.set_buyer_terms(uow, "storefront", buyer_id, "b2b", Decimal("30000.00"))
    assert (again["id"], again["order_count"], again["credit_limit"]) == (before["id"], 1, Decimal("30000.00"))
    customers_before = count(db, customers)
    with pytest.raises(InvalidArgument) as refused, UnitOfWork(db, "customer", "finance-1", "c") as uow:
        handlers.set_buyer_terms(uow, "bad channel!", "", "vip", None)
    assert {f["field"] for f in refused.value.fields} == {"channel", "external_id"}
    with pytest.raises(InvalidArgument), UnitOfWork(db, "customer", "finance-1", "c") as uow:
        handlers.set_buyer_terms(uow, "storefront", _uid(), "vip", Decimal("-5"))  # bad terms: no customer made
    assert count(db, customers) == customers_before


def _after(event_type, order_id, sequence, payload) -> Envelope:
    return Envelope(type=event_type, source="order", aggregate_id=order_id, sequence=sequence,
                    payload={"order_id": order_id, **payload}, correlation_id="c", actor="t")


def _apply_after(db, envelope) -> bool:
    contract = CATALOG[envelope.type]
    return handle_once(db, "customer", f"customer.{envelope.type}", envelope,
                       lambda uow, env: handlers.record_after_sale(uow, events.parse(contract, env), env))


SALE = {"channel": "taobao", "shop": "shop-1", "buyer": {}}


def test_returns_refunds_and_releases_show_in_the_customers_history_once_each(db, stub):
    buyer_id, order_id, other = _uid(), _uid(), _uid()
    released = _after("order_lines_released", other, 2, {
        "released_at": "2024-03-01T10:00:00+00:00", "reason": "buyer refunded before shipping",
        "lines": [{"line_no": 1, "sku": "SKU-1", "quantity": 1}]})
    with pytest.raises(PredecessorMissing):  # before its order: retried later, nothing kept
        _apply_after(db, released)
    apply_placed(db, placed(order_id, {"external_id": buyer_id}, total="30.00"))
    apply_placed(db, placed(other, {"external_id": buyer_id}, total="5.00", placed_at="2024-03-01T09:00:00+00:00"))
    apply_shipped(db, shipped(order_id))
    returned = _after("order_returned", order_id, 4, {
        **SALE, "external_order_id": "E" + order_id, "return_id": "r-1", "reason": "damaged",
        "returned_at": "2024-03-05T08:00:00+00:00", "currency": "CNY",
        "lines": [{"line_no": 1, "sku": "SKU-1", "quantity": 2, "unit_price": "10.00", "amount": "20.00",
                   "warehouse": "SH"}]})
    refunded = _after("order_refunded", order_id, 5, {
        **SALE, "external_order_id": "E" + order_id, "refund_id": "rf-1", "reason": "late delivery",
        "refunded_at": "2024-03-06T08:00:00+00:00", "currency": "CNY",
        "lines": [{"line_no": 1, "sku": "SKU-1", "amount": "3.50", "amount_reversed_before": "20.00"}]})
    for envelope in (returned, refunded, released):
        assert _apply_after(db, envelope)
        assert not _apply_after(db, envelope)  # the broker carries it again: once
    c = stub.GetCustomer(pb.GetCustomerRequest(id=only_customer(db, order_id=order_id)["id"])).customer
    cancelled_lines, shipped_order = c.orders  # newest first
    assert (shipped_order.carrier, shipped_order.tracking_number) == ("SF", "SF123")
    assert [(a.kind, a.reference, a.reason, a.quantity, a.lines, a.at) for a in shipped_order.after_sales] == [
        ("return", "r-1", "damaged", 2, 1, "2024-03-05T08:00:00+00:00"),
        ("refund", "rf-1", "late delivery", 0, 1, "2024-03-06T08:00:00+00:00")]
    assert [(a.amount.units, a.amount.nanos) for a in shipped_order.after_sales] == [(20, 0), (3, 500_000_000)]
    assert (shipped_order.refunded.units, shipped_order.refunded.nanos) == (23, 500_000_000)
    [release] = cancelled_lines.after_sales
    assert (release.kind, release.reference, release.quantity, release.HasField("amount")) == ("release", "", 1, False)
    assert (cancelled_lines.refunded.units, cancelled_lines.carrier) == (0, "")
    assert count(db, after_sales, after_sales.c.order_id.in_([order_id, other])) == 3


def test_an_rma_return_counts_its_money_once_at_settlement(db, stub):
    buyer_id, order_id = _uid(), _uid()
    apply_placed(db, placed(order_id, {"external_id": buyer_id}, total="30.00"))
    apply_shipped(db, shipped(order_id))
    goods_back = _after("order_returned", order_id, 4, {
        **SALE, "external_order_id": "E" + order_id, "return_id": "rma-1", "reason": "wrong size",
        "returned_at": "2024-03-05T08:00:00+00:00", "currency": "CNY", "refund_deferred": True,
        "lines": [{"line_no": 1, "sku": "SKU-1", "quantity": 2, "unit_price": "10.00", "amount": "20.00",
                   "warehouse": "SH"}]})
    settled = _after("order_refunded", order_id, 5, {
        **SALE, "external_order_id": "E" + order_id, "refund_id": "rma-1", "reason": "wrong size",
        "refunded_at": "2024-03-06T08:00:00+00:00", "currency": "CNY",
        "lines": [{"line_no": 1, "sku": "SKU-1", "amount": "20.00", "amount_reversed_before": "0.00"}]})
    for envelope in (goods_back, settled):
        assert _apply_after(db, envelope)
    c = stub.GetCustomer(pb.GetCustomerRequest(id=only_customer(db, order_id=order_id)["id"])).customer
    [order] = c.orders
    assert [(a.kind, a.quantity, a.HasField("amount")) for a in order.after_sales] == [
        ("return", 2, False), ("refund", 0, True)]
    assert (order.refunded.units, order.refunded.nanos) == (20, 0)


def test_customers_are_counted_by_tier(db):
    """What hub_customers{tier} exports: a new buyer counts as standard until their terms say vip."""
    from hubkit.db import UnitOfWork

    before = handlers.count_by_tier(db)
    buyer_id = _uid()
    apply_placed(db, placed(_uid(), {"external_id": buyer_id, "name": "Wang Wu"}))
    after_order = handlers.count_by_tier(db)
    assert after_order.get("standard", 0) == before.get("standard", 0) + 1
    customer_id = only_customer(db, channel="taobao", external_id=buyer_id)["id"]
    with UnitOfWork(db, "customer", "finance-1", "c") as uow:
        handlers.set_terms(uow, customer_id, "vip", None)
    counts = handlers.count_by_tier(db)
    assert (counts.get("standard", 0), counts["vip"]) == (before.get("standard", 0), before.get("vip", 0) + 1)


def test_a_new_buyers_order_and_its_shipment_read_no_row_they_just_wrote(db):
    """The insert that made the customer names it (no read back); marking the order shipped returns
    its customer (no look-up); a known buyer's customer is still found."""
    from sqlalchemy import event as sa_event

    statements: list[str] = []
    sa_event.listen(db.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, params, context, many: statements.append(" ".join(sql.split())))
    buyer, first, second = _uid(), _uid(), _uid()
    apply_placed(db, placed(first, {"external_id": buyer}))
    assert not [sql for sql in statements if sql.startswith("SELECT customers.id FROM customers WHERE")]
    apply_placed(db, placed(second, {"external_id": buyer}))  # a known buyer: found by their identity
    assert len({o["customer_id"] for o in handlers.get_customer(
        db, only_customer(db, channel="taobao", external_id=buyer)["id"])["orders"]}) == 1
    statements.clear()
    apply_shipped(db, shipped(first))
    assert not [sql for sql in statements if sql.startswith("SELECT customer_orders.customer_id")]
    c = only_customer(db, channel="taobao", external_id=buyer)
    assert c["order_count"] == 2
    assert {o["order_id"]: o["status"] for o in handlers.get_customer(db, c["id"])["orders"]} == \
        {first: "shipped", second: "placed"}


def test_a_batch_of_shipments_marks_each_order_and_touches_each_customer_set_based(db):
    """The worker's order_shipped batch: every order marked (the later parcel of one order wins), each
    customer touched by the last of its orders' actors; on PostgreSQL one statement for the lot (two
    per shipment before), on SQLite the same result one shipment after the other. An order whose
    order_placed was not applied fails the batch (PredecessorMissing), and nothing of it is written."""
    from sqlalchemy import event as sa_event

    from hubkit.db import UnitOfWork

    buyer, other = _uid(), _uid()
    first, second, third = _uid(), _uid(), _uid()
    for order_id, who in ((first, buyer), (second, buyer), (third, other)):
        apply_placed(db, placed(order_id, {"external_id": who}))

    def parcel(order_id, actor, completes, tracking):
        env = shipped(order_id)
        return None, Envelope(type=env.type, source=env.source, aggregate_id=order_id, sequence=3,
                              payload={**env.payload, "completes_order": completes, "tracking_number": tracking},
                              correlation_id="c", actor=actor)
    statements: list[str] = []
    sa_event.listen(db.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, params, context, many: statements.append(" ".join(sql.split())))
    with UnitOfWork(db, "customer", "t", "c") as uow:
        handlers.record_orders_shipped(uow, [parcel(first, "a1", False, "P1"), parcel(third, "a2", True, "P3"),
                                             parcel(second, "a3", True, "P2"), parcel(first, "a4", True, "P4")])
    written = [sql for sql in statements if sql.startswith(("UPDATE", "WITH"))]
    assert len(written) == (1 if db.engine.dialect.name == "postgresql" else 8), written
    with db.reader() as s:
        history = {r.order_id: (r.status, r.tracking_number) for r in s.execute(
            select(customer_orders).where(customer_orders.c.order_id.in_([first, second, third])))}
    assert history == {first: ("shipped", "P4"), second: ("shipped", "P2"), third: ("shipped", "P3")}
    assert only_customer(db, channel="taobao", external_id=buyer)["updated_by"] == "a4"
    assert only_customer(db, channel="taobao", external_id=other)["updated_by"] == "a2"
    fourth, unknown = _uid(), _uid()
    apply_placed(db, placed(fourth, {"external_id": other}))
    with pytest.raises(PredecessorMissing, match=unknown):
        with UnitOfWork(db, "customer", "t", "c") as uow:
            handlers.record_orders_shipped(uow, [parcel(fourth, "a5", True, "P5"), parcel(unknown, "a5", True, "P6")])
    with db.reader() as s:
        assert s.execute(select(customer_orders.c.status).where(customer_orders.c.order_id == fourth)).scalar() == "placed"


def test_a_buyer_with_a_channel_id_gets_the_phone_hash_with_the_count(db):
    """The phone's keyed hash is written by the statement that counts the order (no UPDATE of its own
    in dedup_by_phone afterwards); a phone-only buyer's is still written by dedup_by_phone."""
    from sqlalchemy import event as sa_event

    from hubkit.db import UnitOfWork
    from services.customer import domain, profiles

    key = b"k-test"
    statements: list[str] = []
    sa_event.listen(db.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, params, context, many: statements.append(" ".join(sql.split())))

    def order_placed(buyer):
        env = placed(_uid(), buyer)
        with UnitOfWork(db, "customer", "t", "c") as uow:
            touched = [handlers.record_order_placed(uow, env, key)]
            profiles.dedup_by_phone(uow, touched, key)
        return touched[0]
    buyer = _uid()
    customer_id = order_placed({"external_id": buyer, "phone": "139 0000 1111"})
    assert not [sql for sql in statements if sql.startswith("UPDATE customers SET phone_hash")]
    with db.reader() as s:
        assert s.execute(select(customers.c.phone_hash).where(customers.c.id == customer_id)).scalar() == \
            domain.phone_hash(key, "13900001111")
    statements.clear()
    phone_only = order_placed({"phone": f"138{uuid.uuid4().int % 10**8:08d}"})
    assert [sql for sql in statements if sql.startswith("UPDATE customers SET phone_hash")]
    with db.reader() as s:
        assert s.execute(select(customers.c.phone_hash).where(customers.c.id == phone_only)).scalar()


def test_a_new_buyers_customer_is_inserted_with_its_first_order_counted(db):
    """A new buyer's order: the customer insert carries the count, contact and phone hash (no UPDATE
    of the row it just made); a known buyer's is still counted by the UPDATE; an order already in a
    history leaves a new buyer's customer empty, as before."""
    from sqlalchemy import event as sa_event

    from hubkit.db import UnitOfWork
    from services.customer import domain

    key = b"k-test"
    statements: list[str] = []
    sa_event.listen(db.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, params, context, many: statements.append(" ".join(sql.split())))

    def order_placed(order_id, buyer, total="10.00"):
        statements.clear()
        with UnitOfWork(db, "customer", "t", "c") as uow:
            return handlers.record_order_placed(uow, placed(order_id, buyer, total=total), key)
    buyer, first = _uid(), _uid()
    customer_id = order_placed(first, {"external_id": buyer, "name": "Ann", "phone": "139 0000 2222"}, "12.34")
    assert [sql.split(" ")[0] for sql in statements if not sql.startswith(("BEGIN", "COMMIT"))] == \
        ["INSERT", "INSERT"]  # the customer (counted) and its history: no UPDATE
    with db.reader() as s:
        row = s.execute(select(customers).where(customers.c.id == customer_id)).one()
    assert (row.order_count, row.lifetime_value, row.name, row.phone, row.email, row.currency) == \
        (1, Decimal("12.34"), "Ann", "13900002222", "", "CNY")
    assert row.phone_hash == domain.phone_hash(key, "13900002222")
    assert row.name_at is not None and row.phone_at is not None and row.email_at is None
    assert row.first_order_at == row.last_order_at and row.first_order_at is not None
    order_placed(_uid(), {"external_id": buyer}, "1.00")  # a known buyer: counted by the UPDATE
    assert [sql for sql in statements if sql.startswith("UPDATE customers SET")]
    c = only_customer(db, channel="taobao", external_id=buyer)
    assert (c["order_count"], Decimal(str(c["lifetime_value"]))) == (2, Decimal("13.34"))
    other = _uid()
    assert order_placed(first, {"external_id": other, "name": "Bob"}) == customer_id  # in Ann's history
    b = only_customer(db, channel="taobao", external_id=other)
    assert (b["order_count"], b["name"]) == (0, "")


def test_dedup_by_phone_reads_nothing_for_new_buyers_with_a_channel_id(db):
    """Customers this transaction made for buyers with a channel's buyer id have their phone hash and
    no twin to look for: dedup_by_phone sends no statement for them, and still reads a known buyer."""
    from sqlalchemy import event as sa_event

    from hubkit.db import UnitOfWork
    from services.customer import domain, profiles

    key = b"k-test"
    statements: list[str] = []
    sa_event.listen(db.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, params, context, many: statements.append(" ".join(sql.split())))
    buyers = [_uid(), _uid()]

    def batch():
        with UnitOfWork(db, "customer", "t", "c") as uow:
            touched = [handlers.record_order_placed(uow, placed(_uid(), {"external_id": b, "phone": "13900003333"}),
                                                    key) for b in buyers]
            statements.clear()
            profiles.dedup_by_phone(uow, touched, key)
        return touched
    touched = batch()
    assert [sql for sql in statements if not sql.startswith(("BEGIN", "COMMIT"))] == []
    with db.reader() as s:
        assert set(s.execute(select(customers.c.phone_hash).where(customers.c.id.in_(touched))).scalars()) == \
            {domain.phone_hash(key, "13900003333")}
    batch()  # known buyers: read as before
    assert [sql for sql in statements if sql.startswith("SELECT customers.id, customers.phone")]


def test_a_batch_of_orders_placed_inserts_its_new_buyers_in_two_statements_and_the_rest_one_by_one(db):
    """The worker's order_placed batch: the new buyers' customers (each with its first order counted)
    and those orders' history rows are two statements for the whole batch, on both dialects; a known
    buyer, a buyer's second order in the batch, an order already in a history and an order named twice
    in the batch come out as record_order_placed gives them one by one."""
    from sqlalchemy import event as sa_event

    from hubkit.db import UnitOfWork

    known, old_order = _uid(), _uid()
    apply_placed(db, placed(old_order, {"external_id": known}, total="3.00"))
    known_id = only_customer(db, channel="taobao", external_id=known)["id"]
    a, b, c, z, w = (_uid() for _ in range(5))
    a1, a2, b1, c1, k2 = (_uid() for _ in range(5))
    statements: list[str] = []
    sa_event.listen(db.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, params, context, many: statements.append(" ".join(sql.split())))
    with UnitOfWork(db, "customer", "t", "c") as uow:
        touched = handlers.record_orders_placed(uow, [placed(o, {"external_id": who}, total=total) for o, who, total in (
            (a1, a, "10.00"), (b1, b, "7.00"), (c1, c, "1.00"))])
    assert [sql.split(" ")[0] for sql in statements if not sql.startswith(("BEGIN", "COMMIT"))] == \
        ["INSERT", "INSERT"]
    customer_of = {who: only_customer(db, channel="taobao", external_id=who) for who in (a, b, c)}
    assert touched == [customer_of[a]["id"], customer_of[b]["id"], customer_of[c]["id"]]
    assert [customer_of[who]["order_count"] for who in (a, b, c)] == [1, 1, 1]
    batch = [placed(a2, {"external_id": a}, total="5.00"),  # a known buyer now
             placed(k2, {"external_id": known}, total="2.00"),
             placed(_uid(), {"external_id": z}),
             placed(old_order, {"external_id": z}),  # already in the known buyer's history
             placed(b1, {"external_id": w})]  # named twice: already in b's history
    batch[2], batch[3] = batch[3], batch[2]
    with UnitOfWork(db, "customer", "t", "c") as uow:
        touched = handlers.record_orders_placed(uow, batch)
    z_id = only_customer(db, channel="taobao", external_id=z)["id"]
    assert touched == [customer_of[a]["id"], known_id, known_id, z_id, customer_of[b]["id"]]
    got = {who: only_customer(db, channel="taobao", external_id=who) for who in (a, known, z, w)}
    assert (got[a]["order_count"], Decimal(str(got[a]["lifetime_value"]))) == (2, Decimal("15.00"))
    assert (got[known]["order_count"], Decimal(str(got[known]["lifetime_value"]))) == (2, Decimal("5.00"))
    assert got[z]["order_count"] == 1 and got[w]["order_count"] == 0  # w's only order is b's
    with db.reader() as s:
        owner = dict(s.execute(select(customer_orders.c.order_id, customer_orders.c.customer_id)
                               .where(customer_orders.c.order_id.in_([old_order, b1, a2, k2]))).all())
    assert owner == {old_order: known_id, b1: customer_of[b]["id"], a2: customer_of[a]["id"], k2: known_id}
