"""The Kingdee connector pushes many vouchers per call (K/3 Cloud BatchSave), against the Kingdee
simulator over HTTP, and keeps exactly once per voucher: a batch without an answer is resolved by a
look-up of each voucher before anything is sent again, and a batch with refused items confirms the
others and lists the refused ones with the ledger's message."""
from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import select, update

from connectors.ledgers import pusher, runner, store
from connectors.ledgers.clients import KingdeeClient
from connectors.ledgers.config import KingdeeConfig
from hub import components
from hubkit import clock
from hubkit.db import Database
from simulators.kingdee import DEFAULT_CONFIG
from tests.unit.simulators import running


def voucher(n: int, *, day: str = "2026-11-21", channel: str = "taobao", kind: str = "sale",
            revenue_account: str = "6001") -> dict:
    return {"id": f"v{n}", "number": f"记-{day[:7]}-{n:04d}", "period": day[:7], "voucher_type": "记", "kind": kind,
            "business_date": day, "lines": [
                {"account": "1122", "debit": "113.00", "credit": "0.00", "summary": f"Sale {n}",
                 "aux": f"platform:{channel}/shop1", "cost_centre": ""},
                {"account": revenue_account, "debit": "0.00", "credit": "100.00", "summary": f"Sale {n}", "aux": "",
                 "cost_centre": f"channel:{channel}"},
                {"account": "22210105", "debit": "0.00", "credit": "13.00", "summary": "output VAT", "aux": "",
                 "cost_centre": ""}]}


def database(tmp_path) -> Database:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    components.migrate("ledger", url)
    return Database(url, store.metadata)


def keep(db: Database, vouchers: list[dict], ledgers: dict | None = None) -> None:
    """The connector's own effect of voucher_posted, for each voucher."""
    effect = runner.keep_voucher(ledgers or {"kingdee": None})
    with db.session() as s:
        effect(SimpleNamespace(session=s), [SimpleNamespace(payload=v) for v in vouchers])


def tick(p: pusher.Pusher, db: Database) -> None:
    with db.session() as s:  # due at once
        s.execute(update(store.pushes).values(next_attempt_at=clock.now() - timedelta(seconds=1)))
    p.tick()


def pushes(db: Database) -> dict:
    with db.reader() as s:
        return {r.voucher_id: r for r in s.execute(select(store.pushes)).all()}


def kingdee(base: str, timeout: float = 5.0) -> KingdeeClient:
    c = DEFAULT_CONFIG
    return KingdeeClient(KingdeeConfig(url=f"{base}/k3cloud/", acct_id=c["acct_id"], user_name=c["user_name"],
                                       app_id=c["app_id"], app_secret=c["app_secret"], timeout_seconds=timeout))


@pytest.fixture(scope="module")
def sim_base(tmp_path_factory):
    with running("simulators.kingdee", tmp_path_factory.mktemp("kingdee")) as base:
        yield base


@pytest.fixture
def sim(sim_base):
    with httpx.Client(base_url=sim_base) as client:
        client.post("/__sim/reset")
        yield client


def test_many_vouchers_go_to_the_ledger_in_one_batch_save_call(tmp_path, sim):
    db = database(tmp_path)
    keep(db, [voucher(n) for n in range(1, 101)])
    client = kingdee(str(sim.base_url))
    p = pusher.Pusher("kingdee", client, db, parallel=1)
    tick(p, db)
    stats = sim.get("/__sim/stats").json()
    assert (stats["batch_save_calls"], stats["batch_models"], stats["save_calls"], stats["stored"]) == (1, 100, 0, 100)
    rows = pushes(db)
    assert {r.status for r in rows.values()} == {store.CONFIRMED} and all(r.save_calls == 1 for r in rows.values())
    stored = {v["external_key"]: v for v in sim.get("/__sim/vouchers").json()}
    assert rows["v7"].external_number == "HUB-202611-JZ-0007"
    assert rows["v7"].ledger_ref == f"{stored['HUB-202611-JZ-0007']['id']}/{stored['HUB-202611-JZ-0007']['number']}"
    tick(p, db)  # confirmed: never sent again
    assert sim.get("/__sim/stats").json()["batch_save_calls"] == 1
    client.close()


def test_a_batch_with_refused_items_confirms_the_others_and_lists_the_refused_with_the_ledgers_message(tmp_path, sim):
    db = database(tmp_path)
    keep(db, [voucher(1), voucher(2, revenue_account="6999"), voucher(3)])
    client = kingdee(str(sim.base_url))
    tick(pusher.Pusher("kingdee", client, db, parallel=1), db)
    rows = pushes(db)
    assert (rows["v1"].status, rows["v2"].status, rows["v3"].status) == (store.CONFIRMED, store.REJECTED,
                                                                         store.CONFIRMED)
    assert "6999" in rows["v2"].last_error and "不存在" in rows["v2"].last_error  # the ledger's own words
    assert [v["external_key"] for v in sim.get("/__sim/vouchers").json()] == ["HUB-202611-JZ-0001",
                                                                               "HUB-202611-JZ-0003"]
    assert sim.get("/__sim/stats").json()["batch_save_calls"] == 1
    assert pusher.status(db, "kingdee")["rejected"] == 1
    client.close()


def test_a_batch_without_an_answer_is_resolved_by_a_look_up_per_voucher_before_sending_again(tmp_path, sim):
    db = database(tmp_path)
    # voucher 2 is refused inside the lost call; the others are stored, and the answer never arrives
    keep(db, [voucher(1), voucher(2, revenue_account="6999"), voucher(3)])
    client = kingdee(str(sim.base_url), timeout=0.5)
    p = pusher.Pusher("kingdee", client, db, parallel=1)
    sim.post("/__sim/faults", json={"timeout_after_store": 1, "hang_seconds": 2})
    tick(p, db)
    assert {r.status for r in pushes(db).values()} == {store.PUSHING}
    sim.post("/__sim/faults", json={})
    sim.post("/__sim/config", json={"accounts": {**DEFAULT_CONFIG["accounts"], "6999": "其他收入"}})  # fixed
    tick(p, db)
    rows = pushes(db)
    assert {vid: r.status for vid, r in rows.items()} == {"v1": store.CONFIRMED, "v2": store.CONFIRMED,
                                                          "v3": store.CONFIRMED}
    assert (rows["v1"].save_calls, rows["v2"].save_calls, rows["v3"].save_calls) == (1, 2, 1)
    keys = [v["external_key"] for v in sim.get("/__sim/vouchers").json()]
    assert sorted(keys) == ["HUB-202611-JZ-0001", "HUB-202611-JZ-0002", "HUB-202611-JZ-0003"]  # each once
    stats = sim.get("/__sim/stats").json()
    assert (stats["batch_save_calls"], stats["batch_models"]) == (2, 4)  # only the voucher not found went again
    assert pusher.status(db, "kingdee")["duplicate_pushes"] == 1
    client.close()


def test_the_batch_save_answer_is_read_per_item_and_a_request_error_refuses_every_voucher():
    answers = [{"Result": {"ResponseStatus": {
        "IsSuccess": False, "MsgCode": 11, "ErrorCode": 500, "SuccessEntitys": [{"Id": 9, "Number": "记-0009",
                                                                               "DIndex": 1}],
        "Errors": [{"FieldName": "FDEBIT", "Message": "借贷不平衡", "DIndex": 0},
                   {"FieldName": "", "Message": "重复提交", "DIndex": 2}]}}},
        {"Result": {"ResponseStatus": {"IsSuccess": False, "MsgCode": 8, "SuccessEntitys": [],
                                       "Errors": [{"FieldName": "Model", "Message": "参数错误", "DIndex": 0}]}}}]

    def handle(request: httpx.Request) -> httpx.Response:
        if "LoginByAppSecret" in request.url.path:
            return httpx.Response(200, json={"LoginResultType": 1, "KDSVCSessionId": "s1"})
        assert len(json.loads(request.content)["data"]["Model"]) == 4
        return httpx.Response(200, json=answers.pop(0))

    c = KingdeeClient(KingdeeConfig(url="http://kingdee.test/k3cloud/", acct_id="a", user_name="u", app_id="i",
                                    app_secret="s"), transport=httpx.MockTransport(handle))
    four = [voucher(n) for n in range(1, 5)]
    kinds = [(o.kind, o.ref or o.message) for o in c.push_many(four, {})]
    assert kinds == [("rejected", "借贷不平衡"), ("confirmed", "9/记-0009"),
                     ("ambiguous", "ledger says repeated: 重复提交"),
                     ("ambiguous", "the ledger's answer names neither a save nor an error for it")]
    assert {o.kind for o in c.push_many(four, {})} == {"rejected"}
