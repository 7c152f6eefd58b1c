"""The outbound double check through the gateway (issue 13): an order the default rules flag (a line
worth more than 10,000) is refused at shipment until a first user has checked its picked goods, and
refused when the checker ships it too (single and batch), each a 409 problem+json that changes
nothing; a second user ships it. The check shows on GET /orders/{id} and in the order's audit."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import order_body, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _conflict(reply, says: str) -> None:
    assert reply.status_code == 409, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert says in reply.json()["title"] or says in reply.json().get("detail", ""), reply.text


def _flagged_order(client, sku) -> str:
    stock_sku(client, sku, quantity=5, cost="100.00")
    reply = client.post("/orders", json=order_body(sku, unique("DC"), quantity=2, price="6000.00"))
    assert reply.status_code == 201, reply.text
    order_id = reply.json()["id"]
    assert wait_settled(client, [order_id])[0]["status"] == "reserved"
    wait_for(lambda: client.get(f"/orders/{order_id}").json()["double_check"] or None, 60, 0.3,
             f"the double check flag on {order_id}")
    return order_id


def test_a_flagged_order_needs_a_check_and_a_second_user_to_ship(pg_hub):
    sku = unique("DCK")
    with pg_hub.client("admin") as admin, pg_hub.client("warehouse") as picker:
        order_id = _flagged_order(admin, sku)
        shipment = {"carrier": "SF", "tracking_number": unique("SFDC")}
        _conflict(picker.post(f"/orders/{order_id}/shipment", json=shipment), "needs a double check")
        before = admin.get(f"/orders/{order_id}").json()
        assert (before["status"], before["double_checked"], before["shipment"]) == ("reserved", None, None)

        checked = picker.post(f"/orders/{order_id}/double-check", json={"note": "two units, seals intact"})
        assert checked.status_code == 200, checked.text
        picker_name = checked.json()["double_checked"]["by"]
        assert picker_name.startswith("test-warehouse-") and checked.json()["double_checked"]["at"]

        # the checker ships it: refused, alone and in a batch, and nothing changes
        _conflict(picker.post(f"/orders/{order_id}/shipment", json=shipment), "another user")
        batch = picker.post("/shipments/batch", json={"shipments": [{"order_id": order_id, **shipment}]})
        assert batch.status_code == 200, batch.text
        [item] = batch.json()["results"]
        assert (item["status"], batch.json()["refused"]) == (409, 1)
        assert admin.get(f"/orders/{order_id}").json()["status"] == "reserved"

        # another user ships it (in a batch, as a wave would)
        batch = admin.post("/shipments/batch", json={"shipments": [{"order_id": order_id, **shipment}]})
        [item] = batch.json()["results"]
        assert (item["status"], item["order"]["status"]) == (200, "shipped"), batch.text
        shown = admin.get(f"/orders/{order_id}").json()
        assert shown["double_checked"]["by"] == picker_name
        audit = admin.get(f"/orders/{order_id}/audit").json()["entries"]
        [check] = [e for e in audit if e["action"] == "double_check"]
        assert (check["actor"], check["note"]) == (picker_name, "two units, seals intact")

        # an order no rule flagged: a check is a 409, and it ships from anyone as before
        plain = admin.post("/orders", json=order_body(sku, unique("DC"), quantity=1, price="19.90")).json()["id"]
        assert wait_settled(admin, [plain])[0]["status"] == "reserved"
        _conflict(picker.post(f"/orders/{plain}/double-check"), "not flagged")
        assert picker.post(f"/orders/{plain}/shipment",
                           json={"carrier": "SF", "tracking_number": unique("SFDC")}).status_code == 200
