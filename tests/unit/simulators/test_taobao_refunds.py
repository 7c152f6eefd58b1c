"""The Taobao simulator's refunds: taobao.refunds.receive.get by modified window, the test hook that opens and
settles a refund on a trade, and the faults (shifting pages, repeated records) on the new method."""
from __future__ import annotations

from tests.unit.simulators.test_taobao import call, client, clock, generate  # noqa: F401  (fixtures)

REFUND_FIELDS = "refund_id,tid,oid,refund_fee,status,has_good_return,modified,good_status"


def _refunds(client, **biz) -> dict:
    return call(client, "taobao.refunds.receive.get", fields=REFUND_FIELDS, **biz)["refunds_receive_get_response"]


def test_a_refund_opened_then_settled_is_listed_by_its_modified_time_and_moves_the_trade(client, clock):
    trade = generate(client, 1)[0]
    oid = trade["orders"]["order"][0]["oid"]
    opened = client.post("/__sim/refunds", json={"tid": trade["tid"], "oid": oid})
    assert opened.status_code == 200, opened.text
    refund = opened.json()["platform"]
    assert refund["status"] == "WAIT_SELLER_AGREE" and refund["has_good_return"] is False
    assert refund["refund_fee"] == trade["orders"]["order"][0]["divide_order_fee"]
    client.post("/__sim/clock", json={"advance_seconds": 5})
    settled = client.post(f"/__sim/refunds/{refund['refund_id']}/settle", json={"status": "success"})
    assert settled.json()["platform"]["status"] == "SUCCESS"
    listed = _refunds(client, start_modified=settled.json()["modified"], end_modified=settled.json()["modified"])
    assert listed["total_results"] == 1
    assert [(r["refund_id"], r["tid"], r["oid"], r["status"]) for r in listed["refunds"]["refund"]] == \
        [(refund["refund_id"], trade["tid"], oid, "SUCCESS")]
    line = client.get("/__sim/orders").json()[0]["orders"]["order"][0]
    assert line["refund_status"] == "SUCCESS" and line["refund_id"] == refund["refund_id"]
    # settled once: a second outcome is refused
    assert client.post(f"/__sim/refunds/{refund['refund_id']}/settle", json={"status": "closed"}).status_code == 409


def test_refunds_of_a_closed_request_and_bad_input_are_refused_as_the_platform_would(client):
    trade = generate(client, 1, seed=3)[0]
    oid = trade["orders"]["order"][0]["oid"]
    assert client.post("/__sim/refunds", json={"tid": trade["tid"], "oid": 1}).status_code == 404
    assert client.post("/__sim/refunds", json={"tid": trade["tid"], "oid": oid, "fee": "0"}).status_code == 409
    closed = client.post("/__sim/refunds", json={"tid": trade["tid"], "oid": oid, "has_good_return": True,
                                                 "status": "closed"}).json()
    assert closed["platform"]["status"] == "CLOSED" and closed["platform"]["has_good_return"] is True
    # closed: the line may be refunded again
    assert client.post("/__sim/refunds", json={"tid": trade["tid"], "oid": oid}).status_code == 200
    assert _refunds(client, status="CLOSED")["total_results"] == 1


def test_refund_pages_shift_and_repeat_under_faults(client):
    for i, trade in enumerate(generate(client, 6, seed=9)):
        client.post("/__sim/refunds", json={"tid": trade["tid"], "oid": trade["orders"]["order"][0]["oid"]})
    assert client.post("/__sim/faults", json={"shift_pages": 1.0, "repeat_records": 1.0}).status_code == 200
    second = _refunds(client, page_no=2, page_size=2)
    assert len(second["refunds"]["refund"]) == 3  # the previous page's last one again
    stats = client.get("/__sim/stats").json()["faults"]
    assert stats["shift_pages"] >= 1 and stats["repeat_records"] >= 1
