"""Printed documents through the gateway on the real hub: an order's delivery note (送货单) and a wave's
pick lists, one PDF per wave with a page per order, read back from the PDF: the Chinese names and
address as entered, the document numbers, the bins in walk order (not the order they were added or
stocked in); a count sheet walks the same bins. What cannot be printed is a problem, not a PDF."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import order_body, unique, wait_settled
from tests.support.pdf import ink, page_image, pages_text

pytestmark = pytest.mark.e2e

BINS = ("B-01-01-1", "A-10-02-1", "A-02-05-2")  # as a warehouse might add them: not walk order


def _ok(reply, status=200):
    assert reply.status_code == status, reply.text
    return reply


def _flat(text: str) -> str:
    return "".join(text.split())


def test_a_delivery_note_and_a_waves_pick_lists_print_in_chinese_along_the_walk(pg_hub):
    wh = unique("PR")[:12]
    tea, cup = unique("TEA"), unique("CUP")
    with pg_hub.client("admin") as admin, pg_hub.client("warehouse") as picker:
        _ok(admin.post("/warehouses", json={"code": wh, "name": wh, "priority": 0}), 201)
        _ok(admin.post(f"/warehouses/{wh}/bins", json={"codes": list(BINS)}), 201)
        for sku, name, where in ((tea, "西湖龙井 250克", "B-01-01-1"), (cup, "青花瓷杯", "A-02-05-2")):
            _ok(admin.post("/skus", json={"code": sku, "name": name}), 201)
            _ok(admin.post("/stock/receipts", json={"sku": sku, "warehouse": wh, "quantity": 5, "unit_cost": "3.00",
                                                    "bin": where}), 201)
        first = order_body(tea, unique("PR"), quantity=2, price="88.00")
        first["lines"].append({"sku": cup, "quantity": 1, "unit_price": "12.50"})
        first["shipping_address"] = {"recipient": "李雷", "phone": "13800000000", "province": "上海市", "city": "上海市",
                                     "district": "浦东新区", "street": "世纪大道 100 号"}
        second = order_body(cup, unique("PR"), quantity=3)
        ids = [_ok(admin.post("/orders", json=body), 201).json()["id"] for body in (first, second)]
        assert [o["status"] for o in wait_settled(admin, ids)] == ["reserved", "reserved"]

        note = _ok(admin.get(f"/print/delivery-notes/{ids[0]}.pdf"))
        assert note.headers["content-type"] == "application/pdf"
        [text] = pages_text(note.content)
        for expected in ("送货单", ids[0], "李雷", "上海市上海市浦东新区世纪大道 100 号", "西湖龙井 250克", "青花瓷杯",
                         "176.00", "188.50"):
            assert expected in text, expected
        image = page_image(note.content)
        assert ink(image, (0, 0, image.width, image.height // 3)) > 0.01  # a page with text on it, not blank

        wave = _ok(picker.post("/waves", json={"warehouse": wh}), 201).json()
        assert sorted(o["order_id"] for o in wave["orders"]) == sorted(ids)
        whole = _flat(pages_text(_ok(picker.get(f"/print/pick-lists/{wave['wave_id']}.pdf")).content)[0])
        assert wave["wave_id"] in whole and whole.index("A-02-05-2") < whole.index("B-01-01-1")

        batch = _ok(picker.get(f"/print/waves/{wave['wave_id']}/pick-lists.pdf"))
        pages = [_flat(p) for p in pages_text(batch.content)]
        assert len(pages) == 2  # one pick list per order, each a page of its own
        by_order = {order_id: next(p for p in pages if f"{wave['wave_id']}-{order_id}" in p) for order_id in ids}
        mine = by_order[ids[0]]
        assert "拣货单" in mine and mine.index("A-02-05-2") < mine.index("B-01-01-1")  # the cup first: walk order
        assert "西湖龙井250克" in mine and "第1/1页" in mine
        assert "B-01-01-1" not in by_order[ids[1]]  # the second order has only cups

        count = _ok(picker.post("/counts", json={"warehouse": wh, "bins": list(BINS)}), 201).json()
        try:
            sheet = _flat(pages_text(_ok(picker.get(f"/print/count-sheets/{count['count_id']}.pdf")).content)[0])
            lines = sheet.split("实盘Counted")[1]
            assert lines.index("A-02-05-2") < lines.index("B-01-01-1") and "青花瓷杯" in lines
        finally:
            _ok(picker.post(f"/counts/{count['count_id']}/cancel"))

        missing = picker.get(f"/print/waves/{unique('W')}/pick-lists.pdf")
        assert (missing.status_code, missing.headers["content-type"]) == (404, "application/problem+json")
        bad = admin.get("/print/customer-statements/C-1.pdf", params={"period": "2026-00"})
        assert (bad.status_code, bad.headers["content-type"]) == (422, "application/problem+json")
