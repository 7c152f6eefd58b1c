"""Summary mode (汇总凭证, HUB_<LEDGER>_SUMMARY=daily): the ledger gets one voucher per business day,
channel and kind once the day is over in the merchant's time zone plus the grace period; a late
voucher goes into a supplementary summary voucher of its day; each stays exactly once; the hub keeps
every document's voucher and reconciliation compares the hub's detail with the summary vouchers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from connectors.ledgers import pusher, reconcile, store, summary
from connectors.ledgers.config import KingdeeConfig, load
from hubkit import clock
from simulators.kingdee import DEFAULT_CONFIG
from tests.unit.connectors.test_kingdee_batch import database, keep, kingdee, pushes, sim, sim_base, tick, voucher

__all__ = ["sim", "sim_base"]  # the simulator fixtures, shared with the batch tests
GRACE = timedelta(hours=2)
DAILY = {"kingdee": GRACE}


@pytest.fixture(autouse=True)
def compose_every_round(monkeypatch):
    monkeypatch.setattr(summary, "COMPOSE_EVERY", timedelta(0))


def summarising(db, base: str, timeout: float = 5.0):
    client = kingdee(base, timeout)
    return client, pusher.Pusher("kingdee", client, db, parallel=1,
                                 summariser=summary.Summariser("kingdee", db, GRACE))


def ledger_vouchers(sim) -> dict:
    return {v["external_key"]: v for v in sim.get("/__sim/vouchers").json()}


def test_one_summary_voucher_per_day_channel_and_kind_each_once_after_a_lost_answer(tmp_path, sim):
    db = database(tmp_path)
    vouchers = ([voucher(n) for n in (1, 2, 3)] + [voucher(n, channel="jd") for n in (4, 5)]
                + [voucher(6, kind="cost")] + [voucher(n, day="2026-11-22") for n in (7, 8)])
    keep(db, vouchers, DAILY)
    client, p = summarising(db, str(sim.base_url), timeout=0.5)
    sim.post("/__sim/faults", json={"timeout_after_store": 1, "hang_seconds": 2})
    tick(p, db)  # composed and sent; the answer is lost
    sim.post("/__sim/faults", json={})
    tick(p, db)  # each summary voucher is looked up, found, and not sent again
    held = ledger_vouchers(sim)
    assert sorted(held) == ["HUB-S-20261121-jd-sale-01", "HUB-S-20261121-taobao-cost-01",
                            "HUB-S-20261121-taobao-sale-01", "HUB-S-20261122-taobao-sale-01"]
    stats = sim.get("/__sim/stats").json()
    assert (stats["stored"], stats["batch_save_calls"], stats["save_calls"]) == (4, 1, 0)
    sale = held["HUB-S-20261121-taobao-sale-01"]
    totals = {(e["account"], e["debit"], e["credit"]) for e in sale["entries"]}
    assert totals == {("1122", "339.00", "0.00"), ("6001", "0.00", "300.00"), ("2221.01.05", "0.00", "39.00")}
    rows = pushes(db)
    assert {r.status for r in rows.values()} == {store.CONFIRMED}
    summary_row = rows["kingdee:HUB-S-20261121-taobao-sale-01"]
    assert summary_row.ledger_ref == f"{sale['id']}/{sale['number']}" and summary_row.save_calls == 1
    for vid in ("v1", "v2", "v3"):  # every hub voucher keeps its own number and state, naming its summary
        assert rows[vid].summary_id == summary_row.voucher_id and rows[vid].ledger_ref == summary_row.ledger_ref
    assert rows["v1"].external_number == "HUB-202611-JZ-0001"
    assert pusher.status(db, "kingdee")["confirmed"] == 8  # the hub's vouchers, not the summaries
    client.close()


def test_a_day_is_summed_after_its_end_in_the_merchants_time_zone_plus_grace(tmp_path, sim, monkeypatch):
    db = database(tmp_path)
    shanghai_midnight = datetime(2026, 11, 21, 16, 0, tzinfo=timezone.utc)  # 2026-11-22 00:00 +08:00
    monkeypatch.setattr(clock, "now", lambda: shanghai_midnight - timedelta(minutes=30))
    keep(db, [voucher(1)], DAILY)
    client, p = summarising(db, str(sim.base_url))
    for moment in (shanghai_midnight + GRACE - timedelta(minutes=1), shanghai_midnight + GRACE + timedelta(minutes=1)):
        monkeypatch.setattr(clock, "now", lambda moment=moment: moment)
        p.tick()
        if moment < shanghai_midnight + GRACE:  # 01:59 the next morning: the night's stragglers may still come
            assert ledger_vouchers(sim) == {} and pushes(db)["v1"].summary_id is None
            waiting = pusher.status(db, "kingdee", summary_mode=True)
            assert (waiting["pending"], waiting["oldest_unposted_seconds"]) == (1, 0.0)  # waiting is not late
    assert list(ledger_vouchers(sim)) == ["HUB-S-20261121-taobao-sale-01"]
    client.close()


def test_a_late_voucher_goes_into_a_supplementary_summary_of_its_day(tmp_path, sim):
    db = database(tmp_path)
    keep(db, [voucher(1), voucher(2)], DAILY)
    client, p = summarising(db, str(sim.base_url))
    tick(p, db)
    keep(db, [voucher(3)], DAILY)  # a voucher dated back to a day already summed
    tick(p, db)
    tick(p, db)
    held = ledger_vouchers(sim)
    assert sorted(held) == ["HUB-S-20261121-taobao-sale-01", "HUB-S-20261121-taobao-sale-02"]
    assert {(e["account"], e["debit"]) for e in held["HUB-S-20261121-taobao-sale-02"]["entries"]} >= {
        ("1122", "113.00")}
    rows = pushes(db)
    assert (rows["v1"].summary_id, rows["v3"].summary_id) == ("kingdee:HUB-S-20261121-taobao-sale-01",
                                                              "kingdee:HUB-S-20261121-taobao-sale-02")
    assert sim.get("/__sim/stats").json()["stored"] == 2
    client.close()


def test_reconciliation_in_summary_mode_compares_the_hubs_detail_with_the_summary_vouchers(tmp_path, sim,
                                                                                           monkeypatch):
    db = database(tmp_path)
    vouchers = [voucher(1), voucher(2), voucher(3, channel="jd", revenue_account="6999")]  # jd's is refused
    keep(db, vouchers, DAILY)
    client, p = summarising(db, str(sim.base_url))
    tick(p, db)

    def hub_vouchers(target, period):
        return [SimpleNamespace(number=v["number"], period=v["period"],
                                lines=[SimpleNamespace(**{k: line[k] for k in ("account", "debit", "credit")})
                                       for line in v["lines"]]) for v in vouchers]
    monkeypatch.setattr(reconcile, "hub_vouchers", hub_vouchers)
    config = KingdeeConfig(url=f"{sim.base_url}/k3cloud/", acct_id=DEFAULT_CONFIG["acct_id"],
                           user_name=DEFAULT_CONFIG["user_name"], app_id=DEFAULT_CONFIG["app_id"],
                           app_secret=DEFAULT_CONFIG["app_secret"], summary="daily")
    report = reconcile.reconcile(db, "unused", "kingdee", config, "2026-11")
    assert (report["hub_vouchers"], report["ledger_vouchers"]) == (3, 1)
    assert report["missing_in_ledger"] == ["HUB-202611-JZ-0003"]  # its summary voucher was refused
    assert report["unknown_to_hub"] == [] and report["duplicated_in_ledger"] == []
    differences = {a["account"]: (Decimal(a["hub_debit"]) - Decimal(a["ledger_debit"]),
                                  Decimal(a["hub_credit"]) - Decimal(a["ledger_credit"]))
                   for a in report["account_differences"]}
    assert differences == {"1122": (Decimal("113.00"), 0), "6999": (0, Decimal("100.00")),
                           "2221.01.05": (0, Decimal("13.00"))}  # exactly the refused summary's lines
    assert not report["matches"]
    sim.post("/__sim/config", json={"accounts": {**DEFAULT_CONFIG["accounts"], "6999": "其他收入"}})
    pusher.retry_rejected(db, "kingdee", "v3")
    tick(p, db)
    report = reconcile.reconcile(db, "unused", "kingdee", config, "2026-11")
    assert report["matches"] and (report["hub_vouchers"], report["ledger_vouchers"]) == (3, 2)
    client.close()


def test_summary_mode_is_configuration_per_ledger():
    env = {"HUB_KINGDEE_URL": "http://k/k3cloud/", "HUB_KINGDEE_ACCT_ID": "a", "HUB_KINGDEE_USER_NAME": "u",
           "HUB_KINGDEE_APP_ID": "i", "HUB_KINGDEE_APP_SECRET": "s"}
    assert summary.grace_of(load(["kingdee"], env)["kingdee"]) is None  # off by default
    daily = load(["kingdee"], {**env, "HUB_KINGDEE_SUMMARY": "daily", "HUB_KINGDEE_SUMMARY_GRACE_MINUTES": "30"})
    assert summary.grace_of(daily["kingdee"]) == timedelta(minutes=30)
    with pytest.raises(SystemExit, match="HUB_KINGDEE_SUMMARY"):
        load(["kingdee"], {**env, "HUB_KINGDEE_SUMMARY": "weekly"})


def test_a_re_push_of_a_summed_voucher_sends_its_summary_voucher_again(tmp_path, sim):
    db = database(tmp_path)
    keep(db, [voucher(1, revenue_account="6999"), voucher(2, revenue_account="6999")], DAILY)
    client, p = summarising(db, str(sim.base_url))
    tick(p, db)
    assert {r.status for r in pushes(db).values()} == {store.REJECTED}
    assert "6999" in pushes(db)["v2"].last_error  # the ledger's message, on every voucher it sums
    sim.post("/__sim/config", json={"accounts": {**DEFAULT_CONFIG["accounts"], "6999": "其他收入"}})
    pusher.retry_rejected(db, "kingdee", "v2")
    tick(p, db)
    assert {r.status for r in pushes(db).values()} == {store.CONFIRMED}
    assert list(ledger_vouchers(sim)) == ["HUB-S-20261121-taobao-sale-01"]
    with db.reader() as s:
        assert s.execute(select(store.pushes.c.save_calls).where(store.pushes.c.is_summary)).scalar_one() == 2
    client.close()
