"""Every voucher into the Kingdee-style and U8-style ledgers effectively once: faults on every
ledger call (half of them timeouts after the ledger stored the voucher), the connector killed
-9 mid-run, and reconciliation with no difference. U8 is called only where its OpenAPI documents
a call (no voucher is ever read back from it)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from hub import components
from hub.supervisor import free_port, spawn
from tests.e2e.helpers import stock_sku, unique
from tests.support import infra
from tests.support.hub import Hub, wait_for

pytestmark = pytest.mark.e2e
# scaled down in `make test`; `make soak` pushes 2,000 to each ledger
VOUCHERS = int(os.environ.get("HUB_SOAK_VOUCHERS", "60"))
FAULTS = {"timeout_after_store": 0.10, "server_error": 0.04, "rate_limit": 0.03, "expire_session": 0.03,
          "hang_seconds": 3, "seed": 11}


def _simulator(kind: str, port: int, log_dir, config=None) -> subprocess.Popen:
    log = open(log_dir / f"sim-{kind}.log", "ab")
    extra = ["--config", str(config)] if config else []
    proc = spawn([sys.executable, "-m", f"simulators.{kind}", "--host", "127.0.0.1", "--port", str(port), *extra],
                 stdout=log, stderr=subprocess.STDOUT, cwd=components.PROJECT_ROOT)
    wait_for(lambda: _up(f"http://127.0.0.1:{port}/__sim/stats"), 30, 0.2, f"the {kind} simulator")
    return proc


def _up(url) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def ledger_hub(session_name, tmp_path_factory):
    """A hub of its own with both ledgers configured, each a real simulator on loopback."""
    name, log_dir = f"{session_name}_ldg", tmp_path_factory.mktemp("ledger-hub-logs")
    databases = (*components.SERVICES, "gateway", "ledger")
    urls = infra.create_databases(name, databases)
    ports = {"kingdee": free_port(), "ufida": free_port()}
    sims = {kind: _simulator(kind, port, log_dir) for kind, port in ports.items()}
    hub = Hub(infra.create_vhost(name), urls, log_dir, extra_env={
        "HUB_LEDGERS": "kingdee,ufida", "HUB_LEDGER_GRPC_PORT": str(free_port()),
        "HUB_KINGDEE_URL": f"http://127.0.0.1:{ports['kingdee']}/k3cloud/", "HUB_KINGDEE_ACCT_ID": "0c30c597dc1565d147b3a371",
        "HUB_KINGDEE_USER_NAME": "hub", "HUB_KINGDEE_APP_ID": "300001_aHViLXNpbS1rM2Nsb3VkLXNlY3JldCEh",
        "HUB_KINGDEE_APP_SECRET": "919a478ce0957387dd907cd949e78cf2", "HUB_KINGDEE_TIMEOUT_SECONDS": "1",
        "HUB_UFIDA_URL": f"http://127.0.0.1:{ports['ufida']}", "HUB_UFIDA_FROM_ACCOUNT": "hub",
        "HUB_UFIDA_TO_ACCOUNT": "u8demo", "HUB_UFIDA_APP_KEY": "opa5e0c3a1b9d7f2468",
        "HUB_UFIDA_APP_SECRET": "7c1e5b2a9d4f60837e2b1c5d9a0f4e63", "HUB_UFIDA_TIMEOUT_SECONDS": "1"})
    hub.env["HUB_LEDGER_GRPC_TARGET"] = f"127.0.0.1:{hub.env['HUB_LEDGER_GRPC_PORT']}"
    hub.stack.env.update(hub.env)
    hub.sims = {kind: f"http://127.0.0.1:{port}" for kind, port in ports.items()}
    try:
        yield hub.start()
    finally:
        hub.stop()
        for proc in sims.values():
            proc.terminate()
            proc.wait(10)
        infra.delete_vhost(name, wait=False)
        infra.drop_databases(name, databases)


def _status(hub) -> dict:
    """Per ledger; empty while the gateway reconnects to a restarted connector (503)."""
    with hub.client("finance") as c:
        reply = c.get("/ledger/status")
    return {l["ledger"]: l for l in reply.json()["ledgers"]} if reply.status_code == 200 else {}


def _u8_calls_documented(hub) -> None:
    calls = httpx.get(f"{hub.sims['ufida']}/__sim/calls").json()
    assert calls["not_u8"] == {} and calls["calls"], calls


def _today() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def test_every_voucher_reaches_each_ledger_exactly_once_despite_faults_and_a_kill(ledger_hub):
    hub = ledger_hub
    for kind, url in hub.sims.items():
        # Kingdee takes many vouchers per BatchSave, so few calls: until the kill every one of them
        # is stored and then goes unanswered, each resolved by looking up its vouchers
        faults = {**FAULTS, "timeout_after_store": 1} if kind == "kingdee" else FAULTS
        assert httpx.post(f"{url}/__sim/faults", json=faults).status_code == 200
    with hub.client("finance") as finance:
        for n in range(VOUCHERS):
            reply = finance.post("/accounting/payments", json={
                "direction": "received", "counterparty": f"customer:storefront:b{n % 7}", "amount": f"{10 + n}.{n % 100:02d}",
                "business_date": _today(), "reference": unique("BANK")})
            assert reply.status_code == 201, reply.text
            if n == VOUCHERS // 3:
                wait_for(lambda: sum(s["confirmed"] for s in _status(hub).values()) >= 10, 60, 0.1, "first pushes")
                hub.stack.kill("ledger-connector")  # mid-run: some pushes are in flight
                hub.restart("ledger-connector")
                assert httpx.post(f"{hub.sims['kingdee']}/__sim/faults", json=FAULTS).status_code == 200
    total = VOUCHERS

    def all_confirmed():
        st = _status(hub)
        return st if st and all(s["confirmed"] >= total and not s["pending"] and not s["pushing"]
                                for s in st.values()) else None
    status = wait_for(all_confirmed, 120 + total / 5, 0.5, "every voucher confirmed by both ledgers")
    for kind, url in hub.sims.items():
        stored = httpx.get(f"{url}/__sim/vouchers").json()
        counts = Counter(v["external_key"] for v in stored)
        assert len(counts) == total and set(counts.values()) == {1}, f"{kind}: {counts.most_common(3)}"
        stats = httpx.get(f"{url}/__sim/stats").json()
        # the faults really happened: vouchers stored while the connector heard nothing back
        assert stats["faults"]["timeout_after_store"] > 0, stats
        assert status[kind]["rejected"] == 0
    kingdee = httpx.get(f"{hub.sims['kingdee']}/__sim/stats").json()
    assert kingdee["save_calls"] == 0 and 0 < kingdee["batch_save_calls"] < total, kingdee  # batched
    period = _today()[:7]
    done = subprocess.run([sys.executable, "-m", "hub.cli", "ledger", "reconcile", "--period", period, "--json"],
                          env=hub.stack.env, capture_output=True, text=True, timeout=120, cwd=components.PROJECT_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    reports = json.loads(done.stdout)
    assert [r["matches"] for r in reports] == [True, True]
    assert all(r["hub_vouchers"] == r["ledger_vouchers"] == total for r in reports)
    # U8 cannot be read back: its side is what it confirmed, and the report says so
    assert [(r["basis"], bool(r["note"])) for r in reports] == [("ledger", False), ("confirmed_pushes", True)]
    _u8_calls_documented(hub)
    # duplicate push attempts are counted and reported (ambiguous failures make some)
    assert all(isinstance(status[k]["duplicate_pushes"], int) for k in status)
    for url in hub.sims.values():
        httpx.post(f"{url}/__sim/faults", json={})


def test_an_unknown_account_is_rejected_once_listed_and_posts_after_the_mapping_is_fixed(ledger_hub):
    hub = ledger_hub
    sku = unique("LOSS")
    with hub.client("admin") as admin:
        stock_sku(admin, sku, quantity=5, cost="3.00")
        loss = admin.post("/stock/adjustments", json={"sku": sku, "warehouse": "WH-MAIN", "quantity": -1,
                                                     "reason": "count"})
        assert loss.status_code == 201, loss.text
    with hub.client("finance") as finance:
        [voucher] = wait_for(lambda: finance.get("/accounting/vouchers", params={
            "source_id": loss.json()["adjustment_id"]}).json()["vouchers"], 60, 0.2, "the loss voucher")

        def rejected():
            found = [p for p in finance.get("/ledger/pushes", params={"status": "rejected"}).json()["pushes"]
                     if p["voucher_id"] == voucher["id"]]
            return found if len(found) == 2 else None
        pushes = wait_for(rejected, 60, 0.3, "both ledgers to refuse the voucher")
        assert all("1901" in p["last_error"] for p in pushes), pushes  # the ledger's own message
        time.sleep(2)  # a refusal is never retried blindly
        again = {p["ledger"]: p for p in finance.get("/ledger/pushes", params={"status": "rejected"}).json()["pushes"]
                 if p["voucher_id"] == voucher["id"]}
        assert {k: p["save_calls"] for k, p in again.items()} == {"kingdee": 1, "ufida": 1}

        # the fix: these ledgers keep unsettled gains and losses in 1911
        for kind, url in hub.sims.items():
            accounts = httpx.get(f"{url}/__sim/config").json()["config"]["accounts"]
            assert httpx.post(f"{url}/__sim/config", json={"accounts": {**accounts, "1911": "待处理财产损溢"}}).status_code == 200
            assert finance.put(f"/ledger/mappings/{kind}/1901", json={"ledger_account": "1911"}).status_code == 200
            assert finance.post(f"/ledger/pushes/{kind}/{voucher['id']}/retry").status_code == 200

        def confirmed():
            found = [p for p in finance.get("/ledger/pushes", params={"status": "confirmed", "limit": 1000}).json()["pushes"]
                     if p["voucher_id"] == voucher["id"]]
            return found if len(found) == 2 else None
        wait_for(confirmed, 60, 0.3, "the voucher confirmed after the fix")
    for url in hub.sims.values():
        mine = [v for v in httpx.get(f"{url}/__sim/vouchers").json() if "1911" in {e["account"] for e in v["entries"]}]
        assert len(mine) == 1
    _u8_calls_documented(hub)
