"""`hub orders held|release|reject`: what each asks the order service, and what it prints."""
from __future__ import annotations

from hub import apis, cli
from hubapi.order.v1 import order_service_pb2 as pb


def test_held_lists_the_queue_with_open_holds_only(monkeypatch, capsys):
    asked = []
    order = pb.Order(id="o1", channel="web", shop="s1", external_order_id="E1", created_at="2026-12-06T00:00:00+00:00",
                     holds=[pb.Hold(reason="manual", placed_by="amy", placed_at="t1", outcome="released"),
                            pb.Hold(reason="address_check", placed_by="bob", placed_at="t2", note="no street")])
    monkeypatch.setattr(apis, "order", lambda method, request, actor="cli": asked.append((method, request))
                        or pb.ListOrdersResponse(orders=[order]))
    cli.main(["orders", "held", "--reason", "address_check"])
    [(method, request)] = asked
    assert (method, request.status, request.reason) == ("ListOrders", "held", "address_check")
    out = capsys.readouterr().out
    assert "address_check by bob at t2: no street" in out and "manual" not in out


def test_release_and_reject_send_the_note_as_the_console_operator(monkeypatch, capsys):
    asked = []
    monkeypatch.setattr(apis, "order", lambda method, request, actor="cli": asked.append((method, request, actor))
                        or pb.OrderActionResponse(order=pb.Order(id="o1", status="reserved")))
    cli.main(["orders", "release", "o1", "--note", "fine"])
    cli.main(["orders", "reject", "o1"])
    assert [(m, r.order_id, r.note, r.finance) for m, r, _ in asked] == \
        [("ReleaseHold", "o1", "fine", True), ("RejectOrder", "o1", "", True)]
    assert all(actor.startswith("cli:") for *_, actor in asked)
    assert capsys.readouterr().out.splitlines()[0] == "o1: reserved"
