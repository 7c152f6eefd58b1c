"""Electronic waybills exactly once, against the Cainiao simulator over real HTTP, on PostgreSQL and
SQLite: under carrier faults (the number issued and the answer lost, 5xx, rate limits) every parcel
ends with exactly one number, the carrier issued exactly one for it, and the two agree."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from hubapi.common.v1 import money_pb2
from hubapi.order.v1 import order_service_pb2 as pb
from hubkit.errors import Conflict, Unavailable
from services.order import waybills
from services.order.carrier import CainiaoClient, CarrierConfig
from services.order.grpc_server import OrderServicer
from simulators.cainiao import DEFAULT_CONFIG
from tests.unit.simulators import running

pytestmark = pytest.mark.integration

SENDER = {"name": "仓库", "mobile": "13800000000", "address": {"province": "浙江省", "city": "杭州市",
                                                             "district": "余杭区", "detail": "文一西路1号"}}


class Aborted(Exception):
    pass


class Context:
    def invocation_metadata(self):
        return (("x-hub-actor", "tester"),)

    def set_trailing_metadata(self, md):
        pass

    def abort(self, status, message):
        raise Aborted(f"{status.name}: {message}")


@pytest.fixture(scope="module")
def carrier(tmp_path_factory):
    with running("simulators.cainiao", tmp_path_factory.mktemp("cainiao")) as base:
        yield base


def client_for(base: str, timeout: float = 0.3) -> CainiaoClient:
    return CainiaoClient(CarrierConfig(base_url=base, app_key=DEFAULT_CONFIG["app_key"],
                                       app_secret=DEFAULT_CONFIG["app_secret"], session=DEFAULT_CONFIG["session"],
                                       cp_code="ZTO", sender=SENDER, timeout_seconds=timeout))


def place_orders(db, n: int) -> list[str]:
    servicer, ids = OrderServicer(db), []
    for _ in range(n):
        reply = servicer.PlaceOrder(pb.PlaceOrderRequest(
            channel="web", shop="s1", external_order_id=f"W-{uuid.uuid4().hex[:10]}",
            shipping_address=pb.Address(recipient="韩梅梅", phone="13900000000", province="上海", city="上海市",
                                        district="浦东新区", street="世纪大道1号"),
            lines=[pb.OrderLineInput(sku="TEA", quantity=1, unit_price=money_pb2.Money(currency_code="CNY", units=9))]),
            Context())
        ids.append(reply.order.id)
    return ids


def sim(base: str, path: str, body=None):
    r = httpx.post(base + path, json=body) if body is not None else httpx.get(base + path)
    assert r.status_code == 200, r.text
    return r.json()


def test_every_parcel_has_exactly_one_waybill_under_carrier_faults(db, carrier):
    sim(carrier, "/__sim/reset", {})
    sim(carrier, "/__sim/faults", {"timeout_after_issue": 0.2, "server_error": 0.15, "rate_limit": 0.15,
                                    "hang_seconds": 0.6, "seed": 14})
    ids = place_orders(db, 50)
    issuer = waybills.WaybillIssuer(db, client_for(carrier), sleep=lambda s: None, rounds=30,
                                     budget_seconds=60)

    def ask(order_id):  # a caller told to ask again (503) does; a 409 while another runs waits its turn
        for _ in range(10):
            try:
                return issuer.request(order_id, "tester")
            except (Unavailable, Conflict):
                continue
        raise AssertionError(f"no waybill for {order_id}")

    with ThreadPoolExecutor(8) as pool:
        held = dict(zip(ids, pool.map(ask, ids)))
    # and every order asked once more (a retry whose answer was lost) keeps its number
    again = {i: issuer.request(i, "tester") for i in ids}

    stats = sim(carrier, "/__sim/stats")
    issued = sim(carrier, "/__sim/waybills")
    assert stats["faults"]["timeout_after_issue"] > 0 and stats["faults"]["server_error"] > 0
    assert stats["faults"]["rate_limit"] > 0
    assert stats["objects_with_more_than_one"] == []
    by_order = {}
    for w in issued:
        by_order.setdefault(w["trade_order_list"][0], []).append(w["waybill_code"])
    assert set(by_order) == set(ids)
    assert all(len(codes) == 1 for codes in by_order.values()), by_order
    for order_id in ids:
        assert held[order_id]["status"] == "issued"
        assert held[order_id]["tracking_number"] == by_order[order_id][0] == again[order_id]["tracking_number"]
    assert len({h["tracking_number"] for h in held.values()}) == 50
    assert sum(h["lookups"] for h in again.values()) > 0  # ambiguous failures were looked up, not re-asked


def test_two_callers_at_once_get_one_number(db, carrier):
    sim(carrier, "/__sim/reset", {})
    sim(carrier, "/__sim/faults", {"slow_rate": 1.0, "slow_seconds": 0.3})
    [order_id] = place_orders(db, 1)
    issuer = waybills.WaybillIssuer(db, client_for(carrier, timeout=2.0), sleep=lambda s: None)
    answers, start = [], threading.Barrier(2)

    def ask():
        start.wait()
        try:
            answers.append(issuer.request(order_id, "tester")["tracking_number"])
        except Conflict:
            answers.append("conflict")

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sim(carrier, "/__sim/faults", {})
    assert sorted(answers)[1] == "conflict" or answers[0] == answers[1]
    assert len(sim(carrier, "/__sim/waybills")) == 1
    assert issuer.request(order_id, "tester")["tracking_number"] == sim(carrier, "/__sim/waybills")[0]["waybill_code"]


def test_a_refused_request_takes_no_number_and_says_why(db, carrier):
    sim(carrier, "/__sim/reset", {})
    [order_id] = place_orders(db, 1)
    bad = client_for(carrier)
    bad.config = CarrierConfig(**{**bad.config.__dict__, "cp_code": "NOPE"})
    with pytest.raises(Conflict, match="isv.cp-code-not-subscribed"):
        waybills.WaybillIssuer(db, bad, sleep=lambda s: None).request(order_id, "tester")
    assert sim(carrier, "/__sim/waybills") == []
    assert waybills.waybill_of(db, order_id)["status"] == "requesting"


def test_the_shipment_carries_the_waybill_and_refuses_another_number(db, carrier):
    from services.order.models import metadata, orders

    sim(carrier, "/__sim/reset", {})
    [order_id, no_carrier] = place_orders(db, 2)
    with db.session() as s:
        s.execute(orders.update().where(orders.c.id.in_([order_id, no_carrier])).values(status="reserved"))
    servicer = OrderServicer(db, waybill_issuer=waybills.WaybillIssuer(db, client_for(carrier)))
    with pytest.raises(Aborted, match="FAILED_PRECONDITION: no carrier is configured"):
        OrderServicer(db).RequestWaybill(pb.RequestWaybillRequest(order_id=no_carrier), Context())
    got = servicer.RequestWaybill(pb.RequestWaybillRequest(order_id=order_id), Context()).waybill
    assert (got.status, got.carrier, got.parcel_key) == ("issued", "ZTO", f"{order_id}-P1")
    assert got.tracking_number == sim(carrier, "/__sim/waybills")[0]["waybill_code"]

    with pytest.raises(Aborted, match=f"FAILED_PRECONDITION: .*holds the ZTO waybill {got.tracking_number}"):
        servicer.ShipOrder(pb.ShipOrderRequest(order_id=order_id, carrier="SF", tracking_number="SF0001"), Context())
    shipped = servicer.ShipOrder(pb.ShipOrderRequest(order_id=order_id), Context()).order
    assert (shipped.status, shipped.carrier, shipped.tracking_number) == ("shipped", "ZTO", got.tracking_number)
    again = servicer.ShipOrder(pb.ShipOrderRequest(order_id=order_id), Context()).order  # a retry: the same
    assert again.tracking_number == got.tracking_number
    box = metadata.tables["outbox"]
    with db.reader() as s:
        bodies = [r.body for r in s.execute(box.select().where(box.c.event_type == "order_shipped"))
                  if order_id in r.body]
    assert len(bodies) == 1 and got.tracking_number in bodies[0] and '"ZTO"' in bodies[0]
    # shipped: the waybill stays, no new number is taken
    assert servicer.RequestWaybill(pb.RequestWaybillRequest(order_id=order_id), Context()).waybill.tracking_number \
        == got.tracking_number
    assert len(sim(carrier, "/__sim/waybills")) == 1


def test_a_parcels_waybill_is_cancelled_before_it_ships_once_and_each_parcel_takes_its_own(db, carrier):
    """Parcels of one order each take their own number (key <order id>-P<n>); a parcel's number is
    cancelled at the carrier before it ships, idempotently; a cancelled parcel is not issued again, a
    shipped one's number is not cancelled, and a parcel that ships takes its own waybill."""
    from services.order.models import order_lines, orders

    sim(carrier, "/__sim/reset", {})
    [order_id] = place_orders(db, 1)
    with db.session() as s:
        s.execute(orders.update().where(orders.c.id == order_id).values(status="reserved"))
        s.execute(order_lines.update().where(order_lines.c.order_id == order_id)
                  .values(reservation="reserved", quantity=2))
    servicer = OrderServicer(db, waybill_issuer=waybills.WaybillIssuer(db, client_for(carrier)))
    first = servicer.RequestWaybill(pb.RequestWaybillRequest(order_id=order_id, parcel=1), Context()).waybill
    second = servicer.RequestWaybill(pb.RequestWaybillRequest(order_id=order_id, parcel=2), Context()).waybill
    assert first.parcel_key == f"{order_id}-P1" and second.parcel_key == f"{order_id}-P2"
    assert first.tracking_number != second.tracking_number

    cancelled = servicer.CancelWaybill(pb.CancelWaybillRequest(order_id=order_id, parcel=1), Context()).waybill
    assert (cancelled.status, cancelled.tracking_number) == ("cancelled", first.tracking_number)
    again = servicer.CancelWaybill(pb.CancelWaybillRequest(order_id=order_id, parcel=1), Context()).waybill
    assert again.status == "cancelled"  # idempotent
    told = {w["waybill_code"]: w.get("cancelled_at") for w in sim(carrier, "/__sim/waybills")}
    assert told[first.tracking_number] and not told[second.tracking_number]
    with pytest.raises(Aborted, match="FAILED_PRECONDITION: .*was cancelled"):
        servicer.RequestWaybill(pb.RequestWaybillRequest(order_id=order_id, parcel=1), Context())
    with pytest.raises(Aborted, match="NOT_FOUND"):
        servicer.CancelWaybill(pb.CancelWaybillRequest(order_id=order_id, parcel=3), Context())

    # parcel 1 ships with a number given by hand (its waybill was cancelled), parcel 2 on its own waybill
    line = [pb.ShipLine(line_no=1, quantity=1)]
    one = servicer.ShipOrder(pb.ShipOrderRequest(order_id=order_id, carrier="SF", tracking_number="SF90001",
                                                 lines=line), Context()).order
    assert one.status == "partly_shipped" and one.parcels[0].tracking_number == "SF90001"
    two = servicer.ShipOrder(pb.ShipOrderRequest(order_id=order_id, lines=line), Context()).order
    assert two.status == "shipped" and two.parcels[1].tracking_number == second.tracking_number
    with pytest.raises(Aborted, match="FAILED_PRECONDITION: .*has shipped"):
        servicer.CancelWaybill(pb.CancelWaybillRequest(order_id=order_id, parcel=2), Context())
