"""Idempotency-Key on POST: a retry creates nothing new; the key with another body is refused."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import order_body, row_counts, stock_sku, unique, wait_settled

pytestmark = pytest.mark.e2e


def test_retried_order_post_with_the_same_key_returns_the_first_answer(pg_hub):
    sku = unique("IDEM")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=3)
    # Two different external ids: without the key, the second POST would create a second order.
    client, key = pg_hub.client("sales"), unique("key")
    with client:
        first = client.post("/orders", json=order_body(sku, unique("A")), headers={"Idempotency-Key": key})
        wait_settled(client, [first.json()["id"]])  # the first order has run its course
        before = row_counts(pg_hub)
        retry = client.post("/orders", content=first.request.content,
                            headers={"Idempotency-Key": key, "content-type": "application/json"})
        assert row_counts(pg_hub) == before
        other = client.post("/orders", json=order_body(sku, unique("B")), headers={"Idempotency-Key": key})
    assert first.status_code == 201 and retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert row_counts(pg_hub) == before


def test_retried_stock_receipt_with_the_same_key_adds_stock_once(pg_hub):
    sku = unique("IDEMR")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku)
    receipt = {"sku": sku, "warehouse": "WH-MAIN", "quantity": 7, "unit_cost": "3.50"}
    with pg_hub.client("warehouse") as c:
        replies = [c.post("/stock/receipts", json=receipt, headers={"Idempotency-Key": f"{sku}-r1"})
                   for _ in range(3)]
        [level] = c.get(f"/stock/{sku}").json()["levels"]
    assert [r.status_code for r in replies] == [201, 201, 201]
    assert len({r.json()["movement_id"] for r in replies}) == 1
    assert level["on_hand"] == 7


def test_keys_belong_to_their_user(pg_hub):
    sku = unique("IDEMU")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku)
    key = unique("shared")
    receipt = {"sku": sku, "warehouse": "WH-MAIN", "quantity": 1}
    with pg_hub.client("warehouse") as alice, pg_hub.client("purchasing") as bob:
        assert alice.post("/stock/receipts", json=receipt, headers={"Idempotency-Key": key}).status_code == 201
        assert bob.post("/stock/receipts", json=receipt, headers={"Idempotency-Key": key}).status_code == 201
        assert alice.get(f"/stock/{sku}").json()["levels"][0]["on_hand"] == 2
