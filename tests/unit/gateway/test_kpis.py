"""The sales KPIs through the gateway in process (the accounting servicer on SQLite behind a real gRPC
server): every filter reaches the report as its own field, and a bad request is a 422 naming it."""
from __future__ import annotations

from decimal import Decimal

from hubkit.db import UnitOfWork
from hubkit.envelope import Envelope
from services.accounting import chart, domain, handlers
from tests.unit.gateway.test_accounting_commands import hub  # noqa: F401  (the fixture)

RULES = domain.Rules(accounts=dict(chart.DEFAULT_ACCOUNTS), vat_rate=Decimal("0.13"), timezone="Asia/Shanghai")


def _sale(db, order_id: str, channel: str, shop: str, sku: str, amount: str) -> None:
    payload = {"order_id": order_id, "channel": channel, "shop": shop, "external_order_id": order_id, "currency": "CNY",
               "buyer": {"external_id": f"b-{order_id}"}, "shipped_at": "2026-11-10T02:00:00+00:00", "region": "浙江",
               "lines": [{"line_no": 1, "sku": sku, "quantity": 1, "unit_price": amount, "amount": amount,
                          "warehouse": "SH", "category": "tea"}]}
    env = Envelope(type="order_shipped", source="test", aggregate_id=order_id, sequence=1, payload=payload,
                   correlation_id="c", actor="t")
    with UnitOfWork(db, "accounting", "t", "c") as uow:
        handlers.post_sale(uow, env, RULES)


PERIOD = {"from": "2026-11-01", "to": "2026-11-30"}


def test_each_filter_narrows_the_report_on_its_own_dimension(hub):  # noqa: F811
    http, finance, db = hub
    _sale(db, "o1", "taobao", "T1", "TEA", "113.00")
    _sale(db, "o2", "jd", "T1", "CUP", "56.50")
    _sale(db, "o3", "taobao", "T2", "CUP", "11.30")

    def revenue(**filters):
        reply = http.get("/kpis/sales", params={**PERIOD, "by": "month", **filters}, headers=finance)
        assert reply.status_code == 200, reply.text
        return reply.json()["total"]["revenue"]
    assert revenue() == "160.00"
    assert (revenue(channel="taobao"), revenue(shop="T1"), revenue(sku="CUP")) == ("110.00", "150.00", "60.00")
    assert revenue(channel="taobao", shop="T1", sku="TEA", category="tea", region="浙江") == "100.00"
    abc = http.get("/kpis/customers/abc", params={**PERIOD, "channel": "taobao", "shop": "T2"}, headers=finance)
    assert [(r["customer"], r["grade"]) for r in abc.json()["rows"]] == [("taobao:b-o3", "A")]
    sheet = http.get("/kpis/customers/abc.xlsx", params=PERIOD, headers=finance)
    assert sheet.status_code == 200 and sheet.content[:2] == b"PK"


def test_a_bad_request_is_a_problem_naming_the_field(hub):  # noqa: F811
    http, finance, _ = hub
    for path, params, field in [
        ("/kpis/sales", {"to": "2026-11-30"}, "from"),
        ("/kpis/sales", {"from": "2026-11-30", "to": "2026-11-01"}, "to"),
        ("/kpis/sales", {"from": "2023-01-01", "to": "2026-11-30"}, "to"),
        ("/kpis/sales.xlsx", {**PERIOD, "by": "colour"}, "by"),
        ("/kpis/customers/abc", {**PERIOD, "a": "0"}, "a"),
        ("/kpis/customers/abc", {**PERIOD, "b": "100.5"}, "b"),
        ("/kpis/customers/abc.xlsx", {**PERIOD, "a": "90", "b": "90"}, "b"),
        ("/kpis/customers/abc", {**PERIOD, "by": "units"}, "by"),
    ]:
        reply = http.get(path, params=params, headers=finance)
        assert reply.status_code == 422 and reply.headers["content-type"].startswith("application/problem+json"), \
            (path, params, reply.text)
        assert any(e["field"].endswith(field) for e in reply.json()["errors"]), reply.text
