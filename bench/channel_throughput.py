"""How fast orders pulled from the Taobao and JD simulators are applied in the hub, against what raw pika
can move on the same broker, in one run.

Channels: a whole hub (every process its own OS process, as in the tests) in a fresh vhost and fresh
databases, set up like the `channel_hub` fixture of tests/e2e/test_channels.py: the Taobao and JD
simulators on loopback (no faults), a shops file with their default credentials and the SKU mappings of
that test (plus a mapping for the one JD catalogue SKU the test leaves unmapped on purpose, so that
every generated order can reach the hub), the hub SKUs stocked. Once the four shop watermarks have
caught up with now, N paid orders (paid_ratio 1.0) are generated over the shops tb-main, tb-outlet,
jd-main and jd-outlet (`POST /__sim/orders/generate`) and the clock runs from the moment generation
finished until every generated order is in the order database with a status other than `pending`
(pulled by a connector, published, applied by the order service, reserved by inventory), counted by
channel every 50 ms. Reported: orders/s end to end, the time to the first and to the last order, and
the connectors' counters (pulled, published, duplicates suppressed, held, API calls).

Raw pika, before the hub starts, in the same vhost: `bench.baselines.bench_pika` (persistent
~500-byte messages with publisher confirms to a quorum queue, one consumer, prefetch 100).

    python -m bench.channel_throughput [--orders N] [--messages M] [--backend sqlite|postgresql] [--json]

Logs of the hub's processes and of the simulators are kept in var/bench/<session>/log.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from datetime import datetime, timezone

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from bench.baselines import bench_pika
from bench.harness import HUB_DATABASES, BenchSession, check_alive, log_problems
from hubkit.db import as_utc
from services.order.models import orders
from tests.e2e.helpers import stock_sku
from tests.e2e.test_channels import HUB_SKUS, SHOPS, UNMAPPED_JD_SKU
from tests.support.hub import wait_for

DATABASES = (*HUB_DATABASES, "ledger", "shops")
SHOP_NAMES = (("taobao", "tb-main"), ("taobao", "tb-outlet"), ("jd", "jd-main"), ("jd", "jd-outlet"))
POLL_SECONDS = 0.5  # HUB_SHOPS_POLL_SECONDS, as in the channel_hub fixture (the default is 2.0)


def shops_config() -> dict:
    """The test's shops, only the four that the simulators know by default (the test may add shops it
    configures in the simulators itself), with the JD SKU that has no outer id mapped too (the test maps
    it later by CLI)."""
    cfg = copy.deepcopy(SHOPS)
    for platform, platform_cfg in cfg.items():
        platform_cfg["shops"] = [s for s in platform_cfg["shops"] if (platform, s["shop"]) in SHOP_NAMES]
    cfg["jd"]["skus"][UNMAPPED_JD_SKU] = [{"sku": "MUG", "quantity": 1}]
    return cfg


def outer_skus(platform: str, rendered: dict) -> list[str]:
    """The outer SKUs the connector maps, read from an order as the simulator renders it."""
    if platform == "taobao":
        trade = rendered.get("trade", rendered)
        return [l.get("outer_sku_id") or l.get("outer_iid") or str(l.get("sku_id") or "")
                for l in trade["orders"]["order"]]
    return [i.get("outerSkuId") or i["skuId"] for i in rendered["itemInfoList"]]


def order_id(platform: str, rendered: dict) -> str:
    return str(rendered.get("trade", rendered)["tid"]) if platform == "taobao" else str(rendered["orderId"])


def shop_lags(hub) -> dict:
    """(platform, shop) -> the connector's hub_shop_ingest_lag_seconds (now less its watermark)."""
    lags = {}
    for platform in ("taobao", "jd"):
        port = hub.stack.procs[f"shops-{platform}"].metrics_port
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "hub_shop_ingest_lag_seconds":
                    lags[(sample.labels["platform"], sample.labels["shop"])] = sample.value
    return lags


def wait_caught_up(hub, timeout: float) -> float:
    """Connectors start with a watermark a day back and read it in 30-minute windows: wait until every shop's
    ingest lag (now - watermark, from the connectors' metrics, so that the bench takes no lock on the shops
    database) is under 10 s, so that the clock measures new orders, not the catch-up."""
    began = time.perf_counter()

    def caught_up():
        check_alive(hub)
        lags = shop_lags(hub)
        return all(shop in lags and lags[shop] < 10 for shop in SHOP_NAMES)
    wait_for(caught_up, timeout, 0.2, "the shop connectors to catch up with now")
    return time.perf_counter() - began


def applied_by_channel(hub) -> tuple[dict, dict]:
    """(rows per channel, non-pending rows per channel) in the order database."""
    with hub.dbs["order"].reader() as s:
        rows = s.execute(select(orders.c.channel, orders.c.status, func.count())
                         .group_by(orders.c.channel, orders.c.status)).all()
    seen, done = {}, {}
    for channel, status, count in rows:
        seen[channel] = seen.get(channel, 0) + count
        if status != "pending":
            done[channel] = done.get(channel, 0) + count
    return seen, done


def connector_counters(hub) -> dict:
    out = {}
    for platform in ("taobao", "jd"):
        proc = f"shops-{platform}"
        try:
            out[platform] = {k: int(hub.metric(proc, f"hub_shop_{k}_total", platform=platform)) for k in
                             ("orders_pulled", "orders_published", "duplicates_suppressed", "exceptions", "api_calls")}
        except httpx.HTTPError as exc:
            out[platform] = {"error": str(exc)}
    return out


def bench_channels(hub, sims: dict, n: int) -> dict:
    expected, held = {"taobao": set(), "jd": set()}, 0
    mapped = {p: set(cfg["skus"]) for p, cfg in shops_config().items()}
    per_shop = [n // 4 + (1 if i < n % 4 else 0) for i in range(4)]
    gen_start = time.perf_counter()
    for i, ((platform, shop), count) in enumerate(zip(SHOP_NAMES, per_shop)):
        reply = httpx.post(f"{sims[platform]}/__sim/orders/generate",
                           json={"shop": shop, "count": count, "seed": 100 + i, "paid_ratio": 1.0}, timeout=120)
        if reply.status_code != 200:
            raise RuntimeError(f"generate on {shop} -> {reply.status_code}: {reply.text}")
        for o in reply.json()["orders"]:
            if set(outer_skus(platform, o)) <= mapped[platform]:
                expected[platform].add(order_id(platform, o))
            else:
                held += 1
    start, start_wall = time.perf_counter(), datetime.now(timezone.utc)
    want = {p: len(ids) for p, ids in expected.items()}
    total = sum(want.values())
    first_seen = first_done = all_seen = None
    channel_done_at, deadline = {}, time.monotonic() + 90 + n / 10
    while True:
        seen, done = applied_by_channel(hub)
        now = time.perf_counter()
        if first_seen is None and sum(seen.values()):
            first_seen = now
        if all_seen is None and sum(seen.get(p, 0) for p in want) >= total:
            all_seen = now
        if first_done is None and sum(done.values()):
            first_done = now
        for p in want:
            if p not in channel_done_at and done.get(p, 0) >= want[p]:
                channel_done_at[p] = now
        if all(done.get(p, 0) >= want[p] for p in want):
            end = now
            break
        check_alive(hub)
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {now - start:.0f}s: {done} of {want} orders applied ({seen} in the order db)")
        time.sleep(0.05)
    with hub.dbs["order"].reader() as s:
        rows = s.execute(select(orders.c.channel, orders.c.external_order_id, orders.c.status, orders.c.created_at,
                                orders.c.updated_at)).all()
    got = {p: {r.external_order_id for r in rows if r.channel == p} for p in want}
    missing = {p: len(expected[p] - got[p]) for p in want}
    statuses = {}
    for r in rows:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    applied_after = sorted((as_utc(r.updated_at) - start_wall).total_seconds() for r in rows)
    seconds = end - start
    return {
        "orders": n, "expected": total, "held_unmapped": held, "per_channel": want, "missing": missing,
        "statuses": statuses, "generate_seconds": round(start - gen_start, 3),
        "seconds": round(seconds, 3), "orders_per_s": round(total / seconds, 1),
        "first_in_db_s": round(first_seen - start, 3), "first_applied_s": round(first_done - start, 3),
        "last_applied_s": round(seconds, 3), "all_in_db_s": round((all_seen or end) - start, 3),
        "created_span_s": round((max(r.created_at for r in rows) - min(r.created_at for r in rows)).total_seconds(), 3),
        "orders_per_s_after_first": round((total - 1) / (end - first_done), 1) if end > first_done else None,
        "channel_last_applied_s": {p: round(t - start, 3) for p, t in channel_done_at.items()},
        "applied_p50_s": round(statistics.median(applied_after), 3) if applied_after else None,
        "connectors": connector_counters(hub),
    }


def run(n: int, m: int, backend: str) -> dict:
    with BenchSession(backend, DATABASES) as session:
        result = {"backend": backend, "log_dir": str(session.log_dir), "shops_poll_seconds": POLL_SECONDS,
                  "pika": bench_pika(session.vhost_uri, m)}
        sim_urls = {platform: session.simulator(platform) for platform in ("taobao", "jd")}
        for url in sim_urls.values():
            httpx.post(f"{url}/__sim/faults", json={}, timeout=10).raise_for_status()  # no faults at all
        shops_file = session.log_dir / "shops.json"
        shops_file.write_text(json.dumps({p: {**cfg, "url": sim_urls[p], "timeout_seconds": 1, "max_wait_seconds": 2}
                                          for p, cfg in shops_config().items()}))
        hub = session.start_hub({"HUB_SHOPS_FILE": str(shops_file), "HUB_SHOPS_POLL_SECONDS": str(POLL_SECONDS)})
        with hub.client("admin") as admin:
            for sku in HUB_SKUS:
                stock_sku(admin, sku, quantity=10 * n + 100, cost="5.00")  # enough that every order reserves
        result["catch_up_seconds"] = round(wait_caught_up(hub, 180), 1)
        result["hub"] = bench_channels(hub, sim_urls, n)
    result["log_problems"] = log_problems(session.log_dir)
    result["ratio"] = round(result["hub"]["orders_per_s"] / result["pika"]["msgs_per_s"], 4)
    return result


def report(r: dict) -> str:
    h, p = r["hub"], r["pika"]
    conn = "; ".join(f"{pl}: " + ", ".join(f"{k} {v}" for k, v in c.items()) for pl, c in h["connectors"].items())
    return "\n".join([
        f"channels ({r['backend']}, poll {r['shops_poll_seconds']}s): {h['expected']} orders generated on 4 shops "
        f"{h['per_channel']} applied end to end in {h['seconds']:.2f}s = {h['orders_per_s']:.1f} orders/s   "
        f"(statuses {h['statuses']}, missing {h['missing']}, held as unmapped {h['held_unmapped']})",
        f"  after generation ({h['generate_seconds']:.2f}s): first order in the db {h['first_in_db_s']:.2f}s, "
        f"every order in the db {h['all_in_db_s']:.2f}s (created_at span {h['created_span_s']:.2f}s), "
        f"first applied {h['first_applied_s']:.2f}s, last applied {h['last_applied_s']:.2f}s "
        f"(per channel {h['channel_last_applied_s']}); median order applied at {h['applied_p50_s']}s; "
        f"from the first applied to the last: {h['orders_per_s_after_first']} orders/s",
        f"  connectors: {conn}",
        f"  (connectors caught up with now {r['catch_up_seconds']}s after the hub was ready)",
        f"raw pika: {p['messages']} x {p['body_bytes']} B persistent, confirmed, quorum queue: "
        f"{p['msgs_per_s']:.1f} msgs/s publish->consume (publish alone {p['publish_msgs_per_s']:.1f}/s)",
        f"ratio hub orders/s : raw pika msgs/s = {r['ratio']:.3f}",
        f"logs: {r['log_dir']}" + (f"  ERROR/Traceback lines: {r['log_problems']}" if r["log_problems"] else ""),
    ])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    result = run(args.orders, args.messages, args.backend)
    print(json.dumps(result) if args.json else report(result))


if __name__ == "__main__":
    main()
