"""The dashboards and alerts against the real thing: a Prometheus of the test's own scrapes the
PostgreSQL hub (every process's /metrics, the gateway's, and RabbitMQ's per-queue endpoint where the
rabbitmq_prometheus plugin answers) after a purchase, a sale and its shipment, and a poison order
that inventory dead-letters (HubDeadLettersGrowing must fire; the order is then fixed and replayed),
evaluates alerts.yml, and answers every query of both Grafana dashboards and every alert rule through
its HTTP API."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
import yaml

from hub import components
from hub.supervisor import free_port
from hubapi.order.v1 import order_service_pb2 as pb
from hubapi.order.v1 import order_service_pb2_grpc as pb_grpc
from hubkit import dlq, money
from tests.e2e.helpers import order_body, posted_vouchers, stock_sku, unique, wait_settled
from tests.support.approvals import approve_through_gateway
from tests.support.hub import wait_for

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS = shutil.which("prometheus")
RABBITMQ_METRICS = "127.0.0.1:15692"
pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is missing: `make bootstrap` installs it")]

# What a quiet PostgreSQL hub does not produce, so queries over these series may answer nothing (they
# must still parse and evaluate); any other query must answer at least one series.
MAY_BE_EMPTY = {
    "rabbitmq_": "the shared broker has no rabbitmq_prometheus plugin (not enabled here on purpose)",
    "hub_ledger_": "the test hub runs no ledger connector (HUB_LEDGERS is unset)",
    "hub_shop_": "the test hub runs no shop connector (HUB_SHOPS_FILE is unset)",
    "hub_inventory_allocation_splits_total": "appears at the first order split over warehouses",
    'in_transit="true"': "no transfer is on its way",
    "hub_outbox_returned_total": "no event was unroutable",
    "hub_outbox_refused_total": "no queue was full",
    ") == 0": "no process is unready",
}


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expression with Grafana's variables filled in) of every target."""
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = re.sub(r"\$(service|ledger|platform|channel|warehouse)\b", ".*", target["expr"])
                expr = expr.replace("$__rate_interval", "15s").replace("$__range", "1m")
                assert "$" not in expr, f"{path.name} {panel['title']}: a variable the test does not fill: {expr}"
                found.append((path.stem, panel["title"], expr))
    return found


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def _rabbitmq_plugin() -> bool:
    try:
        return httpx.get(f"http://{RABBITMQ_METRICS}/metrics", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def scrape_config(hub, rabbitmq: bool) -> dict:
    """The compose config's jobs and target labels (process, role), with the test hub's ports."""
    hub_targets, connector_targets = [], []
    for name, proc in hub.stack.procs.items():
        if not proc.metrics_port or name == "gateway":  # the gateway serves /metrics on its HTTP port
            continue
        role = "relay" if name == "relays" else name.rpartition("-")[2]
        role = role if role in ("api", "worker", "relay") else "connector"
        target = {"targets": [f"127.0.0.1:{proc.metrics_port}"], "labels": {"process": name, "role": role}}
        (hub_targets if role != "connector" else connector_targets).append(target)
    gateway = hub.stack.gateway_url.removeprefix("http://")
    jobs = [{"job_name": "hub", "static_configs": hub_targets},
            {"job_name": "hub-gateway", "static_configs": [{"targets": [gateway],
                                                             "labels": {"process": "gateway", "role": "gateway"}}]}]
    if connector_targets:
        jobs.append({"job_name": "hub-connectors", "static_configs": connector_targets})
    if rabbitmq:
        jobs.append({"job_name": "rabbitmq-queues", "metrics_path": "/metrics/detailed",
                     "params": {"family": ["queue_coarse_metrics", "queue_consumer_count"]},
                     "static_configs": [{"targets": [RABBITMQ_METRICS]}]})
    return {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "rule_files": [str(ALERTS)],
            "scrape_configs": jobs}


@dataclass
class Prometheus:
    api: httpx.Client
    config: dict


@pytest.fixture
def prometheus(pg_hub, tmp_path):
    """A Prometheus of the test's own (free port, storage in tmp_path) scraping the PostgreSQL hub."""
    config = scrape_config(pg_hub, _rabbitmq_plugin())
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        wait_for(lambda: _answers(api, "/-/ready"), 30, 0.1, "Prometheus to start")
        yield Prometheus(api, config)
    finally:
        api.close()
        proc.terminate()
        proc.wait(10)
        log.close()


def _answers(api, path: str) -> bool:
    try:
        return api.get(path).status_code == 200
    except httpx.HTTPError:
        return False


def query(api, expr: str) -> list:
    reply = api.get("/api/v1/query", params={"query": expr})
    assert reply.status_code == 200 and reply.json()["status"] == "success", f"{expr}: {reply.text}"
    return reply.json()["data"]["result"]


def may_be_empty(expr: str) -> str | None:
    return next((why for key, why in MAY_BE_EMPTY.items() if key in expr), None)


def _scraped(api, config, scrapes: int) -> None:
    """Until every target is up and was scraped `scrapes` times."""
    expected = sum(len(c["targets"]) for job in config["scrape_configs"] for c in job["static_configs"])
    down: list = []

    def done() -> bool:
        down[:] = [(t["labels"].get("process"), t["lastError"]) for t in api.get("/api/v1/targets").json()["data"]
                   ["activeTargets"] if t["health"] != "up"]
        return not down and len(query(api, f"count_over_time(up[1m]) >= {scrapes}")) == expected
    try:
        wait_for(done, 30, 0.2, f"every target scraped {scrapes} times")
    except AssertionError:
        raise AssertionError(f"targets not up: {down}") from None


def _place_poison(hub) -> tuple[str, str]:
    """An order of a SKU inventory does not know (a connector may hand one over): inventory's handler fails
    it on every attempt and dead-letters it. (ghost SKU, order id)"""
    ghost = unique("GHOST")
    with grpc.insecure_channel(hub.settings.grpc_target("order")) as channel:
        reply = pb_grpc.OrderServiceStub(channel).PlaceOrder(pb.PlaceOrderRequest(
            channel="jd", shop="test-shop", external_order_id=unique("POISON"),
            lines=[pb.OrderLineInput(sku=ghost, quantity=1, unit_price=money.to_proto("5.00"))]),
            metadata=[("x-hub-actor", "test-connector")])
    return ghost, reply.order.id


def test_every_dashboard_query_and_alert_rule_runs_on_a_scraped_hub(pg_hub, prometheus):
    api, config = prometheus.api, prometheus.config
    _scraped(api, config, 1)  # the dead-letter counters seen at 0 first: increase() needs a sample before
    ghost, poisoned = _place_poison(pg_hub)
    amqp, placed = pg_hub.env["HUB_AMQP_URI"], [s for s in components.subscriptions("inventory")
                                                if s.queue == "inventory.order_placed"]
    sku, warehouse, supplier = unique("OBS"), unique("WHO")[:12], unique("SUP")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, priority=0)
        assert admin.post("/suppliers", json={"code": supplier, "name": "Metrics Co."}).status_code == 201
        po = admin.post("/purchase-orders", json={"supplier": supplier, "warehouse": warehouse, "lines": [
            {"sku": sku, "quantity": 5, "unit_cost": "10.00", "expected_on": "2099-12-31"}]})
        assert po.status_code == 201, po.text
        approve_through_gateway(pg_hub, po.json()["id"])
        received = admin.post(f"/purchase-orders/{po.json()['id']}/receipts", json={"reference": unique("DN")})
        assert received.status_code == 201, received.text
        wait_for(lambda: [l["on_hand"] for l in admin.get(f"/stock/{sku}").json()["levels"]] == [5], 60, 0.2,
                 "5 on hand")
        order = admin.post("/orders", json=order_body(sku, unique("OBS"), quantity=2, price="20.00", channel="jd"))
        assert order.status_code == 201, order.text
        order_id = order.json()["id"]
        assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
        shipped = admin.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": "SF9876543210"})
        assert shipped.status_code == 200, shipped.text
        posted_vouchers(admin, order_id, 2)  # the sale and its cost of goods
        [letter] = wait_for(lambda: [d for d in dlq.list_dead_letters(amqp, placed) if d["aggregate_id"] == poisoned],
                            30, 0.3, "the poison order in the dead-letter queue")
        try:
            # the rule fires on the first dead letter, at the next evaluation
            wait_for(lambda: query(api, 'ALERTS{alertname="HubDeadLettersGrowing",alertstate="firing",'
                                        'service="inventory",handler="on_order_placed"}'), 20, 0.3,
                     "HubDeadLettersGrowing to fire")
        finally:  # the fix (inventory learns the SKU), and the order replayed: nothing left behind
            stock_sku(admin, ghost, quantity=1)
            assert dlq.replay(amqp, placed, event_id=letter["event_id"]) == 1
            assert wait_settled(admin, [poisoned])[0]["status"] == "reserved"

    # every target scraped a few times more (rate and delta need two samples), the rules evaluated since
    _scraped(api, config, 3)
    # this scenario's figures, once scraped after it (the gauges are read at most every second); under
    # its channel and shop, its warehouse (the hub's other tests sell elsewhere too)
    figures = {
        'sum(hub_sales_revenue_total{channel="jd",shop="test-shop"}) >= 35.40': "net revenue of 2 x 20.00 with VAT",
        'sum(hub_sales_cost_of_goods_total{channel="jd"}) >= 20': "2 x 10.00 from the purchase's cost layer",
        'sum(hub_orders_by_status{channel="jd",status="shipped"}) >= 1': "the order shipped",
        f'sum(hub_inventory_stock_units{{warehouse="{warehouse}",in_transit="false"}}) == 3': "5 received, 2 shipped",
        f'sum(hub_inventory_stock_value{{warehouse="{warehouse}",in_transit="false"}}) == 30': "3 left at 10.00",
        'sum(hub_procurement_received_units{timeliness="on_time"}) >= 5': "5 received before their date",
    }
    try:
        wait_for(lambda: all(query(api, expr) for expr in figures), 15, 0.3, "the scenario's figures")
    except AssertionError:
        raise AssertionError(f"not in Prometheus: {[w for e, w in figures.items() if not query(api, e)]}") from None
    # and scraped twice more: a series born in the scenario has the two samples rate(), increase() and delta() need
    born = ('hub_sales_revenue_total{channel="jd",shop="test-shop"}', 'hub_sales_cost_of_goods_total{channel="jd"}',
            'hub_orders_by_status{channel="jd",status="shipped"}')
    wait_for(lambda: all(query(api, f"min(count_over_time({series}[1m])) >= 2") for series in born), 15, 0.2,
             "two samples of the series the scenario made")
    workers = query(api, 'hub_process_ready{role="worker"}')
    assert workers and all(w["value"][1] == "1" for w in workers), workers  # every worker consuming
    assert not query(api, 'hub_process_ready{role="api"}')  # an api process has no readiness to export

    empty, answered = [], 0
    for board, title, expr in dashboard_queries():
        result = query(api, expr)
        if not result:
            assert may_be_empty(expr), f"{board} / {title}: no data for {expr}"
            empty.append(f"{board} / {title}: {may_be_empty(expr)}")
        answered += 1
    assert answered >= 50

    for rule in alert_rules():
        query(api, rule["expr"])  # parses and evaluates; a quiet hub fires (nearly) none of them
        for name in set(re.findall(r"\b((?:hub|rabbitmq)_[a-z_]+)\b", rule["expr"])):
            if not query(api, f"count({name})"):
                assert may_be_empty(name), f"{rule['alert']}: no series {name} on a running hub"
    wait_for(lambda: all(r.get("lastEvaluation", "").startswith("2") and r["health"] == "ok"
                         for g in api.get("/api/v1/rules").json()["data"]["groups"] for r in g["rules"]),
             20, 0.3, "every alert rule evaluated without error")
    rules = [r for g in api.get("/api/v1/rules").json()["data"]["groups"] for r in g["rules"]]
    assert {r["name"] for r in rules} == {r["alert"] for r in alert_rules()}
    print(f"{answered} dashboard queries answered; empty as expected: {empty}")
