"""A hold placed through the gateway reaches the notification target once despite its 5xx, and the
gateway's delivery log shows the attempts (the formats, signatures and retries in detail:
tests/unit/connectors/test_notify.py, tests/integration/test_notifications.py)."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import order_body, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def test_a_hold_reaches_the_webhook_once_despite_its_5xx_and_the_log_shows_the_attempts(pg_hub):
    receiver = pg_hub.webhook_receiver
    with pg_hub.client("admin") as admin:
        sku = unique("NTF")
        stock_sku(admin, sku, quantity=3)
        reply = admin.post("/orders", json=order_body(sku, unique("NTF-O")))
        assert reply.status_code == 201, reply.text
        order_id = reply.json()["id"]
        wait_settled(admin, [order_id])
        reply = admin.post(f"/orders/{order_id}/holds", json={"reason": "manual", "note": "call the buyer first"})
        assert reply.status_code == 201, reply.text

        def mine():
            return [m for m in receiver.accepted_json() if m["payload"]["order_id"] == order_id]
        [message] = wait_for(mine, 60, 0.2, "the hold's notification")
        assert message["type"] == "order_held" and message["payload"]["note"] == "call the buyer first"
        assert message["title"] == f"Order held for review: order {order_id}"

        def logged():
            reply = admin.get("/notifications/deliveries", params={"event_type": "order_held", "status": "delivered"})
            assert reply.status_code == 200, reply.text
            return [d for d in reply.json()["deliveries"] if d["aggregate_id"] == order_id]
        [delivery] = wait_for(logged, 30, 0.2, "the delivery in the log")
    assert (delivery["event_id"], delivery["target"]) == (message["event_id"], "ops")
    assert (delivery["attempts"], delivery["last_status"]) == (receiver.failures + 1, 200)
    # the receiver saw the 503s and one accepted delivery of this event, its signature right
    assert receiver.seen[("/json", message["event_id"])] == receiver.failures + 1
    assert [valid for _, key, valid, _ in receiver.accepted if key == message["event_id"]] == [True]
