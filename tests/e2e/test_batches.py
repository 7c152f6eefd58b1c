"""Batches at the edges, through the real gateway: POST /orders/batch and POST /shipments/batch apply
each item as the single call would, each with its own result; a refused item writes nothing and holds
up none of the others, and a repeated batch places nothing twice."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from tests.e2e.helpers import order_body, quiet_row_counts, row_counts, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def orders_with(hub, external_ids) -> dict[str, str]:
    """{external id: order id} of the orders the order database holds for these external ids."""
    from services.order.models import orders
    with hub.dbs["order"].reader() as s:
        return dict(s.execute(select(orders.c.external_order_id, orders.c.id)
                              .where(orders.c.external_order_id.in_(list(external_ids)))).all())


def order_rows(hub) -> dict:
    """Rows of the order database's own tables (what placing or shipping an order writes)."""
    db = hub.dbs["order"]
    with db.reader() as s:
        return {name: s.execute(select(func.count()).select_from(db.metadata.tables[name])).scalar()
                for name in ("orders", "order_lines", "outbox")}


def fields(item) -> list[str]:
    return [e["field"] for e in item["problem"]["errors"]]


def test_an_order_batch_places_the_good_orders_and_refuses_each_bad_one_alone(pg_hub):
    sku = unique("BATCH")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=10)
    good_a, good_b = order_body(sku, unique("A")), order_body(sku, unique("B"), quantity=2)
    zero = order_body(sku, unique("ZERO"), quantity=0)
    unknown = order_body("NO-SUCH-SKU-XYZ", unique("UNKNOWN"))
    no_rate = {**order_body(sku, unique("RATE")), "currency": "ISK"}  # a currency the hub has no rate for
    again = good_a  # the same order twice in one batch: placed once
    batch = [good_a, zero, unknown, no_rate, good_b, "not an order", again]
    with pg_hub.client("sales") as c:
        reply = c.post("/orders/batch", json={"orders": batch})
        assert reply.status_code == 200, reply.text
        results = reply.json()["results"]
        assert [r["index"] for r in results] == list(range(len(batch)))
        assert [r["status"] for r in results] == [201, 422, 422, 422, 201, 422, 200]
        assert reply.json()["succeeded"] == 3 and reply.json()["refused"] == 4
        assert fields(results[1]) == ["lines[0].quantity"]
        assert fields(results[2]) == ["lines[0].sku"]
        assert "currency" in fields(results[3])
        assert fields(results[5]) == ["order"]  # not an object at all
        assert results[1]["order"] is None and results[1]["problem"]["status"] == 422
        assert results[6]["order"]["id"] == results[0]["order"]["id"]
        assert results[4]["order"]["lines"][0]["quantity"] == 2
        settled = wait_settled(c, [results[0]["order"]["id"], results[4]["order"]["id"]])
    assert {o["status"] for o in settled} == {"reserved"}
    # the refused ones wrote nothing; the good ones are there once
    assert set(orders_with(pg_hub, [b["external_order_id"] for b in batch if isinstance(b, dict)])) == \
        {good_a["external_order_id"], good_b["external_order_id"]}


def test_a_repeated_order_batch_places_nothing_twice(pg_hub):
    sku = unique("BATCHR")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=5)
    batch = {"orders": [order_body(sku, unique("R1")), order_body(sku, unique("R2"))]}
    with pg_hub.client("sales") as c:
        first = c.post("/orders/batch", json=batch).json()["results"]
        wait_settled(c, [r["order"]["id"] for r in first])
        before = order_rows(pg_hub)
        again = c.post("/orders/batch", json=batch).json()["results"]
        assert order_rows(pg_hub) == before
    assert [r["status"] for r in first] == [201, 201]
    assert [r["status"] for r in again] == [200, 200]
    assert [r["order"]["id"] for r in again] == [r["order"]["id"] for r in first]


def test_a_batch_of_bad_orders_writes_nothing_anywhere(pg_hub):
    sku = unique("BATCHB")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=5)
    bad = [order_body(sku, unique("X"), quantity=-1), order_body("NO-SUCH-SKU-XYZ", unique("Y")),
           {**order_body(sku, unique("Z")), "coupon": "FREE"}, {}]
    with pg_hub.client("sales") as c:
        before = quiet_row_counts(pg_hub)
        reply = c.post("/orders/batch", json={"orders": bad})
        assert row_counts(pg_hub) == before
    assert reply.status_code == 200
    assert [r["status"] for r in reply.json()["results"]] == [422, 422, 422, 422]
    assert fields(reply.json()["results"][2]) == ["coupon"]


def test_a_batch_beyond_the_limit_is_refused_whole(pg_hub):
    sku = unique("BATCHL")
    limit = pg_hub.settings.gateway.gateway_batch_limit
    batch = [order_body(sku, unique(f"L{i}")) for i in range(limit + 1)]
    with pg_hub.client("sales") as c:
        before = order_rows(pg_hub)
        reply = c.post("/orders/batch", json={"orders": batch})
        assert order_rows(pg_hub) == before
        empty = c.post("/orders/batch", json={"orders": []})
    assert reply.status_code == 413
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert empty.status_code == 422


def test_batches_keep_the_single_calls_roles(pg_hub):
    with pg_hub.client("warehouse") as c:
        assert c.post("/orders/batch", json={"orders": [{}]}).status_code == 403
    with pg_hub.client("sales") as c:
        assert c.post("/shipments/batch", json={"shipments": [{}]}).status_code == 403


def test_a_shipment_wave_ships_each_reserved_order_and_refuses_each_bad_shipment_alone(pg_hub):
    sku, scarce = unique("WAVE"), unique("WAVES")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=4)
        stock_sku(c, scarce, quantity=0)
    with pg_hub.client("sales") as c:
        placed = c.post("/orders/batch", json={"orders": [
            order_body(sku, unique("W1")), order_body(sku, unique("W2")), order_body(scarce, unique("W3"))]})
        one, two, short = [r["order"]["id"] for r in placed.json()["results"]]
        assert [o["status"] for o in wait_settled(c, [one, two, short])] == ["reserved", "reserved", "backordered"]
    wave = [{"order_id": one, "carrier": "SF", "tracking_number": "SF1000001"},
            {"order_id": short, "carrier": "SF", "tracking_number": "SF1000002"},
            {"order_id": "no-such-order", "carrier": "SF", "tracking_number": "SF1000003"},
            {"order_id": two, "carrier": "SF", "tracking_number": "x"},
            {"order_id": two, "carrier": "ZTO", "tracking_number": "ZTO2000001"},
            {"order_id": one, "carrier": "SF", "tracking_number": "SF1000009"},
            {"order_id": one, "carrier": "SF", "tracking_number": "SF1000001"}]  # the same shipment again
    with pg_hub.client("warehouse") as c:
        before = order_rows(pg_hub)
        reply = c.post("/shipments/batch", json={"shipments": wave})
        after = order_rows(pg_hub)
        orders = {i: c.get(f"/orders/{i}").json() for i in (one, two, short)}
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [r["status"] for r in results] == [200, 409, 404, 422, 200, 409, 200]
    assert fields(results[3]) == ["tracking_number"]
    assert results[0]["order"]["status"] == "shipped"
    assert (orders[one]["status"], orders[one]["shipment"]["tracking_number"]) == ("shipped", "SF1000001")
    assert (orders[two]["status"], orders[two]["shipment"]["carrier"]) == ("shipped", "ZTO")
    assert orders[short]["status"] == "backordered"
    # two order_shipped events and nothing else: the refused shipments wrote nothing
    assert after == {**before, "outbox": before["outbox"] + 2}


def test_events_that_arrive_together_are_applied_in_batches_and_stock_changes_coalesce(pg_hub):
    """60 orders placed at once over three SKUs: inventory applies order_placed in batches (fewer
    transactions than orders), reserves exactly what was ordered, and announces each SKU's quantity
    fewer times than orders moved it (stock_changed once per SKU and batch, the newest quantity)."""
    skus = [unique(f"COAL{i}") for i in range(3)]
    with pg_hub.client("admin") as c:
        for sku in skus:
            stock_sku(c, sku, quantity=100)
    sequences = pg_hub.dbs["inventory"].metadata.tables["outbox_sequences"]

    def announced() -> dict:
        with pg_hub.dbs["inventory"].reader() as s:
            return dict(s.execute(select(sequences.c.aggregate_id, sequences.c.last_sequence)
                                  .where(sequences.c.aggregate_id.in_([f"sku:{s}" for s in skus]))).all())
    before = announced()
    batches = pg_hub.metric("inventory-worker", "hub_message_batch_size_count", handler="on_order_placed")
    events = pg_hub.metric("inventory-worker", "hub_message_batch_size_sum", handler="on_order_placed")
    orders = [order_body(skus[i % 3], unique(f"CO{i}"), quantity=1 + i % 2) for i in range(60)]
    with pg_hub.client("sales") as c:
        placed = c.post("/orders/batch", json={"orders": orders}).json()["results"]
        assert {o["status"] for o in wait_settled(c, [r["order"]["id"] for r in placed])} == {"reserved"}
        levels = {sku: c.get(f"/stock/{sku}").json() for sku in skus}
    batches = pg_hub.metric("inventory-worker", "hub_message_batch_size_count", handler="on_order_placed") - batches
    events = pg_hub.metric("inventory-worker", "hub_message_batch_size_sum", handler="on_order_placed") - events
    assert events >= 60 and batches < events
    ordered = {sku: sum(o["lines"][0]["quantity"] for o in orders if o["lines"][0]["sku"] == sku) for sku in skus}
    assert {sku: sum(w["reserved"] for w in levels[sku]["levels"]) for sku in skus} == ordered
    after = announced()
    assert all(after[f"sku:{sku}"] - before[f"sku:{sku}"] < 20 for sku in skus)  # 20 orders each


def coalesced_calls(client) -> tuple[float, float]:
    """(calls, requests) the gateway has sent on to PlaceOrder so far (hub_gateway_coalesced_requests)."""
    samples = {s.name: s.value for family in text_string_to_metric_families(client.get("/metrics").text)
               for s in family.samples if s.labels.get("call") == "PlaceOrder"}
    return samples.get("hub_gateway_coalesced_requests_count", 0.0), samples.get("hub_gateway_coalesced_requests_sum", 0.0)


def test_single_orders_posted_at_once_go_on_together_each_with_its_own_answer_and_correlation_id(pg_hub):
    """Single POST /orders that arrive while earlier ones are with the order service are sent on in one
    PlaceOrders call (gateway.coalesce): each still gets the answer POST /orders gives alone, an order
    posted twice is placed once, and each order's events carry its own request's correlation id."""
    sku = unique("TOGETHER")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=100)
    bodies = [order_body(sku, unique("T")) for _ in range(60)]
    sent = [*bodies, *bodies[:6]]  # six of them twice
    with pg_hub.client("sales") as c:
        calls_before, requests_before = coalesced_calls(c)

        def post(i: int):
            with pg_hub.client("sales") as own:  # a client per request, as many callers would be
                return own.post("/orders", json=sent[i], headers={"x-correlation-id": f"together-{sku}-{i}"})
        with ThreadPoolExecutor(30) as pool:
            replies = list(pool.map(post, range(len(sent))))
        calls, requests = coalesced_calls(c)
    assert requests - requests_before == len(sent)
    assert calls - calls_before < len(sent), "no two orders went on together"

    by_external: dict[str, list] = {}
    for i, reply in enumerate(replies):
        assert reply.status_code in (200, 201), reply.text
        assert reply.json()["external_order_id"] == sent[i]["external_order_id"]
        by_external.setdefault(sent[i]["external_order_id"], []).append((i, reply))
    for answers in by_external.values():
        assert sorted(r.status_code for _, r in answers) == ([200, 201] if len(answers) == 2 else [201])
        assert len({r.json()["id"] for _, r in answers}) == 1
    placed = orders_with(pg_hub, by_external)
    assert len(placed) == len(bodies)

    created = {r.json()["id"]: f"together-{sku}-{i}" for answers in by_external.values() for i, r in answers
               if r.status_code == 201}
    outbox = pg_hub.dbs["order"].metadata.tables["outbox"]
    with pg_hub.dbs["order"].reader() as s:
        bodies_out = s.execute(select(outbox.c.body).where(outbox.c.event_type == "order_placed")
                               .where(outbox.c.body.contains(sku))).scalars().all()
    correlation = {e["payload"]["order_id"]: e["correlation_id"] for e in map(json.loads, bodies_out)}
    assert correlation == created


def test_orders_sent_on_together_while_the_order_api_is_killed_are_refused_for_now_and_placed_once_when_sent_again(
        pg_hub):
    """kill -9 of the order api amid a burst of single POST /orders: each is answered (placed, or a 5xx
    problem+json telling the client to come back), those posted while it is away at once; once it is
    back, the same orders sent again are each placed once and the gateway sends them on together again."""
    sku = unique("KILLED")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=200)
    bodies = [order_body(sku, unique("K")) for _ in range(60)]

    def post(body):
        with pg_hub.client("sales") as own:
            return own.post("/orders", json=body)

    def answered_or_refused(replies) -> None:
        for reply in replies:
            if reply.status_code >= 500:
                assert reply.headers["content-type"] == "application/problem+json", reply.text
            else:
                assert reply.status_code in (200, 201), reply.text

    with ThreadPoolExecutor(30) as pool:
        amid = [pool.submit(post, body) for body in bodies[:30]]
        pg_hub.stack.kill("order-api")
        answered_or_refused([f.result(60) for f in amid])
        away = list(pool.map(post, bodies[30:]))
        assert {r.status_code for r in away} == {503}, [r.text for r in away if r.status_code != 503]
        assert all(r.headers.get("retry-after") for r in away)
        answered_or_refused(away)

        pg_hub.restart("order-api")
        with pg_hub.client("sales") as c:
            wait_for(lambda: c.get("/orders", params={"page_size": 1}).status_code == 200, 30, 0.2,
                     "the gateway to reach the order api again")
            calls_before, requests_before = coalesced_calls(c)
            again = list(pool.map(post, bodies))
            calls, requests = coalesced_calls(c)
    assert {r.status_code for r in again} <= {200, 201}, [r.text for r in again if r.status_code >= 300]
    assert [r.json()["external_order_id"] for r in again] == [b["external_order_id"] for b in bodies]
    assert len(orders_with(pg_hub, [b["external_order_id"] for b in bodies])) == len(bodies)  # each once
    assert requests - requests_before == len(bodies) and calls - calls_before < len(bodies)
