"""The U8 connector uses only the calls U8's OpenAPI documents (docs/EXTERNAL_APIS.md section 4.1):
a push without an answer is resolved by sending it again under the same biz_id (U8's idempotency
key), never by a look-up, and reconciliation reads nothing from U8 and says so."""
from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import select, update

from connectors.ledgers import mapping, pusher, reconcile, store
from connectors.ledgers.clients import UfidaClient
from connectors.ledgers.config import UfidaConfig
from hub import components
from hubkit import clock
from hubkit.db import Database
from simulators.ufida import DEFAULT_CONFIG
from tests.unit.simulators import running

DOCUMENTED = {"GET /system/token", "GET /system/tradeid", "POST /api/voucher/add", "GET /result"}


def _voucher(n: int, amount: str = "113.00") -> dict:
    net = f"{float(amount) / 1.13:.2f}"
    tax = f"{float(amount) - float(net):.2f}"
    return {"id": f"v{n}", "number": f"记-2026-01-{n:04d}", "period": "2026-01", "voucher_type": "记",
            "business_date": "2026-01-15", "lines": [
                {"account": "1122", "debit": amount, "credit": "0.00", "summary": "sale", "aux": "customer:shop:b1"},
                {"account": "6001", "debit": "0.00", "credit": net, "summary": "sale", "aux": ""},
                {"account": "22210105", "debit": "0.00", "credit": tax, "summary": "output VAT", "aux": ""}]}


def _config(url: str, timeout: float = 5.0) -> UfidaConfig:
    c = DEFAULT_CONFIG
    return UfidaConfig(url=url, from_account=c["from_account"], to_account=c["to_account"], app_key=c["app_key"],
                       app_secret=c["app_secret"], timeout_seconds=timeout)


def _db(tmp_path, *vouchers: dict) -> Database:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    components.migrate("ledger", url)
    db = Database(url, store.metadata)
    now = clock.now()
    with db.session() as s:
        for v in vouchers:
            s.execute(store.vouchers.insert().values(voucher_id=v["id"], number=v["number"], period=v["period"],
                                                     body=json.dumps(v), received_at=now))
            s.execute(store.pushes.insert().values(ledger="ufida", voucher_id=v["id"],
                                                   external_number=mapping.external_number(v), status=store.PENDING,
                                                   next_attempt_at=now, created_at=now, updated_at=now))
    return db


def _tick(p: pusher.Pusher, db: Database) -> None:
    with db.session() as s:  # due at once
        s.execute(update(store.pushes).values(next_attempt_at=clock.now() - timedelta(seconds=1)))
    p.tick()


def _row(db, voucher_id="v1"):
    with db.reader() as s:
        return s.execute(select(store.pushes).where(store.pushes.c.voucher_id == voucher_id)).one()


@pytest.mark.parametrize("repeat_answer", ["first_answer", "duplicate_error"])
def test_an_unanswered_push_is_resolved_by_the_same_biz_id_and_only_documented_calls(tmp_path, repeat_answer):
    config = {"repeat_answer": repeat_answer} if repeat_answer != "first_answer" else None
    with running("simulators.ufida", tmp_path, config) as base, httpx.Client(base_url=base) as sim:
        db = _db(tmp_path, _voucher(1))
        client = UfidaClient(_config(base, timeout=0.5))
        p = pusher.Pusher("ufida", client, db, parallel=1)
        # U8 stores the voucher, but the answer never reaches the connector
        sim.post("/__sim/faults", json={"timeout_after_store": 1, "hang_seconds": 2})
        _tick(p, db)
        assert (_row(db).status, _row(db).save_calls) == (store.PUSHING, 1)
        sim.post("/__sim/faults", json={})
        _tick(p, db)
        [stored] = sim.get("/__sim/vouchers").json()
        row = _row(db)
        assert (row.status, row.ledger_ref, row.save_calls) == (store.CONFIRMED, stored["id"], 2)
        assert stored["external_key"] == "HUB-202601-JZ-0001"
        stats = sim.get("/__sim/stats").json()
        assert (stats["stored"], stats["duplicates_refused"]) == (1, 1)  # sent twice, held once
        calls = sim.get("/__sim/calls").json()
        assert calls["not_u8"] == {} and set(calls["calls"]) <= DOCUMENTED, calls
        _tick(p, db)  # confirmed: never sent again
        assert sim.get("/__sim/stats").json()["save_calls"] == 2
        client.close()


def _answering(body: dict) -> UfidaClient:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/system/token":
            return httpx.Response(200, json={"errcode": "0", "token": {"id": "t", "expiresIn": 7200}})
        return httpx.Response(200, json=body)
    return UfidaClient(_config("http://u8.test"), transport=httpx.MockTransport(handle))


def test_a_duplicate_refusal_naming_the_voucher_confirms_it_and_one_naming_nothing_goes_to_a_person():
    named = _answering({"errcode": "50002", "errmsg": "biz_id[HUB-202601-JZ-0001]已导入凭证（凭证id 100007），请勿重复导入"})
    assert (named.push(_voucher(1), {}).kind, named.push(_voucher(1), {}).ref) == ("confirmed", "100007")
    by_reserve2 = _answering({"errcode": "50002", "errmsg": "外部凭证业务号reserve2[HUB-202601-JZ-0001]已存在"})
    assert by_reserve2.push(_voucher(1), {}).ref == "reserve2:HUB-202601-JZ-0001"
    vague = _answering({"errcode": "1001", "errmsg": "导入过凭证，请勿重复"})
    outcome = vague.push(_voucher(1), {})
    assert outcome.kind == "rejected" and "请勿重复" in outcome.message


def test_u8_reconciliation_reads_nothing_from_u8_and_says_what_it_compared(tmp_path, monkeypatch):
    db = _db(tmp_path, _voucher(1), _voucher(2, "226.00"))
    with db.session() as s:
        s.execute(update(store.pushes).where(store.pushes.c.voucher_id == "v1")
                  .values(status=store.CONFIRMED, ledger_ref="100001"))

    def hub_vouchers(target, period):
        return [SimpleNamespace(number=v["number"], period=v["period"],
                                lines=[SimpleNamespace(**{k: line[k] for k in ("account", "debit", "credit")})
                                       for line in v["lines"]]) for v in (_voucher(1), _voucher(2, "226.00"))]
    monkeypatch.setattr(reconcile, "hub_vouchers", hub_vouchers)
    # nothing listens there: any call to U8 would fail the reconciliation
    report = reconcile.reconcile(db, "accounting", "ufida", _config("http://127.0.0.1:9", timeout=0.5), "2026-01")
    assert report["basis"] == reconcile.CONFIRMED_PUSHES and "documents no call" in report["note"]
    assert (report["hub_vouchers"], report["ledger_vouchers"]) == (2, 1)
    assert report["missing_in_ledger"] == ["HUB-202601-JZ-0002"] and not report["matches"]
    assert {a["account"]: (a["hub_debit"], a["ledger_debit"]) for a in report["account_differences"]}["1122"] == (
        "339.00", "113.00")
