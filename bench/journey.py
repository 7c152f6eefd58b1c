"""Open-loop full-journey benchmark: orders arrive at fixed rates (POSTed to the gateway, or made in the
Taobao and JD simulators and pulled by the shop connectors: `--source`), are reserved, shipped in waves,
posted as vouchers by accounting and confirmed by the Kingdee-style ledger simulator through the ledger
connector.

Open loop: order i of a rate r has an intended arrival time t0 + i/r and is sent then, whatever the hub
is doing (asyncio, one task per request, so a slow answer never delays the next send; aiohttp, whose
connection pool hands a connection to a waiting request at a constant cost, where httpx's scans every
connection for every request and melted the bench down, not the hub, once hundreds were in flight);
every latency is measured from the intended arrival; an order the gateway refuses with 429 (the hub is
behind) is sent again after its Retry-After. Every `--wave-seconds` the bench ships, all at once, each order that
has become `reserved` since the last wave, so vouchers wait up to one wave for their shipment: as a
warehouse ships a wave, through POST /shipments/batch in requests of at most the gateway's batch limit
(`--ship batch`, the default), or with one POST /orders/{id}/shipment per order (`--ship single`).

Per rate: offered and completed rate (orders confirmed by the ledger within the arrival window), the
backlog when arrivals stop, latency from intended arrival to accepted, to reserved, to shipment, to both
vouchers posted and to both confirmed by the ledger (p50/p95/p99, after a bounded drain), and CPU
milliseconds per completed order per process, from /proc utime+stime: every hub process, the PostgreSQL
backends of the hub's databases (not the bench's own), RabbitMQ's beam.smp (the whole broker, which
other users of the machine share), and outside the hub the simulators and the bench itself.
Also: the hub's idle CPU per second with no load, its resident memory (idle and at peak), and raw
baselines from the same run (bench/baselines.py). bench/README.md says what each figure means.

    python -m bench.journey [--rates 5,10,20] [--seconds 30] [--db postgresql|sqlite] [--source gateway|shops]
                            [--ship batch|single] [--json] ...

Logs of the hub's processes and of the simulators are kept in var/bench/<session>/log.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import aiohttp
import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from bench import baselines
from bench.channel_throughput import POLL_SECONDS, SHOP_NAMES, order_id, shops_config, wait_caught_up
from bench.harness import HUB_DATABASES, BenchSession, check_alive, log_problems, percentiles_ms
from bench.hops import hops
from bench.procstat import CpuMeter, descendants, pids_named
from connectors.ledgers import store as ledger_store
from gateway.config import Settings as GatewaySettings
from hub.demo import DEMO_KINGDEE
from hubkit.db import Database, as_utc, is_sqlite
from hubkit.settings import HubSettings
from services.accounting.models import metadata as accounting_metadata
from services.accounting.models import vouchers
from services.order.config import Settings as OrderSettings
from services.order.models import metadata as order_metadata
from services.order.models import orders
from tests.e2e.helpers import order_body, stock_sku, unique
from tests.e2e.test_channels import HUB_SKUS

SKUS = 8
VOUCHERS_PER_ORDER = 2  # sale and cost of goods
BENCH_APP = "hub-bench"  # application_name of the bench's own database connections (not counted)
OUTSIDE_HUB = ("postgresql", "rabbitmq", "simulators", "bench")
TRIES = 3  # per request, when the connection failed
ARRIVING_CONNECTIONS = 256  # at most this many orders in flight at once; the others wait for a connection
SHIP_MODES = ("batch", "single")  # a wave through POST /shipments/batch, or one POST per order
BATCH_LIMIT = GatewaySettings.model_fields["gateway_batch_limit"].default  # the bench's hub keeps the default
PROGRESS_SECONDS = 30.0  # a progress line on stderr this often during a rate
# batches' counts and sizes: a batched handler's events per transaction, the gateway's requests per call
BATCH_SAMPLES = {f"{histogram}_{part}" for histogram in ("hub_message_batch_size", "hub_gateway_coalesced_requests")
                 for part in ("count", "sum")}
LATENCIES = ("accepted", "reserved", "shipment_posted", "vouchers_posted", "ledger_confirmed")
# the test hub's short timers (a relay's lease, the books audit) are for the tests' patience; the bench
# measures the hub as deployed, with their defaults
AS_DEPLOYED = {"HUB_RELAY_LEASE_SECONDS": str(HubSettings.model_fields["relay_lease_seconds"].default),
               "HUB_AUDIT_INTERVAL_SECONDS": str(GatewaySettings.model_fields["audit_interval_seconds"].default),
               "HUB_CONSUMER_BACKGROUND_BATCH_WAIT_MS": str(
                   HubSettings.model_fields["consumer_background_batch_wait_ms"].default),
               # pools as deployed, one connection per thread that may hold one (the test hub keeps 3, so
               # that several hubs share one PostgreSQL: an api process under load opened and closed more)
               "HUB_DB_POOL_SIZE": os.environ.get("HUB_DB_POOL_SIZE", ""),
               # single POST /orders sent on together as deployed, or as the caller's environment sets it
               "HUB_GATEWAY_COALESCE_ORDERS": os.environ.get("HUB_GATEWAY_COALESCE_ORDERS", ""),
               # backpressure as deployed (the test hub turns it off), or as the caller's environment sets it
               "HUB_INTAKE_HIGH_WATERMARK": os.environ.get(
                   "HUB_INTAKE_HIGH_WATERMARK", str(OrderSettings.model_fields["intake_high_watermark"].default))}


@dataclass
class Order:
    """One arrival; times are wall-clock seconds (time.time(), the clock the hub's rows are stamped with)."""
    intended: float
    external_id: str
    channel: str = "taobao"  # as tests.e2e.helpers.order_body sends it
    sent: float | None = None
    error: str | None = None  # why the order could not be delivered (the gateway's or simulator's answer)
    id: str | None = None
    accepted: float | None = None  # the POST answered 201 (gateway), or the row is in the order db (shops)
    reserved: float | None = None
    shipment_posted: float | None = None
    ship_status: str | None = None
    vouchers_posted: float | None = None
    ledger_confirmed: float | None = None
    transport_errors: int = 0  # requests that failed in transport (sent again, up to TRIES in all)
    refusals: int = 0  # 429s (the hub was behind): sent again after Retry-After each time
    placed: float | None = None  # the order row's created_at: when the hub took it in


def progress(arrivals: list[Order]) -> str:
    """One line: how many of a rate's orders were sent, accepted, reserved, shipped so far, and how far
    behind its schedule the load generator is."""
    now = time.time()
    due = [o for o in arrivals if o.intended <= now]
    late = max((now - o.intended for o in due if o.sent is None), default=0.0)
    count = {moment: sum(getattr(o, moment) is not None for o in due) for moment in ("sent", "accepted", "reserved")}
    shipped = sum(o.ship_status is not None for o in due)
    return (f"journey {time.strftime('%H:%M:%S')}: {len(due)}/{len(arrivals)} due, {count['sent']} sent "
            f"({late:.1f} s behind), {count['accepted']} accepted, {count['reserved']} reserved, {shipped} shipped, "
            f"{sum(o.refusals for o in due)} refusals (429)")


def summarise(arrivals: list[Order], rate: float, seconds: float, window_end: float) -> dict:
    """The figures of one rate from its orders' times (pure, so that it can be tested on its own)."""
    accepted = [o for o in arrivals if o.error is None]

    def by(moment: str, t: float | None) -> int:
        return sum(1 for o in accepted if getattr(o, moment) is not None and (t is None or getattr(o, moment) <= t))

    completed_in_window = by("ledger_confirmed", window_end)
    latencies = {m: percentiles_ms([getattr(o, m) - o.intended for o in accepted if getattr(o, m) is not None])
                 for m in LATENCIES}
    # from the order row's creation to its reservation, both stamped by the hub: what backpressure bounds
    # (an order refused first had waited before, as its client was told; the bench's own lag is not in it)
    latencies["reserved_after_accepted"] = percentiles_ms([o.reserved - o.placed for o in accepted
                                                           if o.reserved is not None and o.placed is not None])
    return {
        "rate": rate, "seconds": seconds, "offered": len(arrivals), "offered_per_s": round(len(arrivals) / seconds, 2),
        "accepted": len(accepted), "arrival_errors": dict(Counter(o.error for o in arrivals if o.error)),
        "ship_errors": dict(Counter(o.ship_status for o in accepted if o.ship_status not in (None, "200"))),
        "transport_errors": sum(o.transport_errors for o in arrivals),
        "refused_429": sum(o.refusals for o in arrivals),
        "orders_refused_at_least_once": sum(1 for o in arrivals if o.refusals),
        "send_lag_ms": percentiles_ms([o.sent - o.intended for o in arrivals if o.sent is not None]),
        "reserved_per_s": round(by("reserved", window_end) / seconds, 2),
        "completed_in_window": completed_in_window, "completed_per_s": round(completed_in_window / seconds, 2),
        # orders that had arrived when arrivals stopped and were not yet that far
        "backlog_at_end": {"not_reserved": len(accepted) - by("reserved", window_end),
                           "vouchers_not_posted": len(accepted) - by("vouchers_posted", window_end),
                           "not_confirmed": len(accepted) - completed_in_window},
        "completed": by("ledger_confirmed", None), "latency_ms": latencies,
    }


class Journey:
    """The hub of a session, fed with orders from `source`: "gateway" (POST /orders) or "shops" (orders
    generated in the Taobao and JD simulators, pulled by the shop connectors)."""

    def __init__(self, session: BenchSession, source: str, wave_seconds: float, drain_seconds: float,
                 sims: dict[str, str] | None = None, skus: int = SKUS, ship: str = "batch"):
        self.session, self.hub, self.source, self.sims = session, session.hub, source, sims or {}
        assert self.hub is not None and ship in SHIP_MODES
        self.ship = ship
        self.wave_seconds, self.drain_seconds = wave_seconds, drain_seconds
        urls = session.urls

        def own(url: str) -> str:  # the bench's own connections are told apart from the hub's
            return url if is_sqlite(url) else f"{url}?application_name={BENCH_APP}"
        self.order_db = Database(own(urls["order"]), order_metadata, pool_size=2)
        self.accounting_db = Database(own(urls["accounting"]), accounting_metadata, pool_size=2)
        self.ledger_db = Database(own(urls["ledger"]), ledger_store.metadata, pool_size=2)
        self.skus = [unique("JOURNEY") for _ in range(skus)]  # one: every order for the same (hot) SKU
        self.prefix = f"J{uuid.uuid4().hex[:6]}"
        self.count = 0
        self.phases = 0
        self.pg = None if session.backend == "sqlite" else baselines.PgBackends(
            [f"{session.name}_{db}" for db in session.databases], exclude_app=BENCH_APP)
        self.broker = pids_named("beam.smp")

    def close(self) -> None:
        for db in (self.order_db, self.accounting_db, self.ledger_db):
            db.dispose()
        if self.pg is not None:
            self.pg.close()

    # -- what is measured ----------------------------------------------------------------------
    def groups(self) -> dict[str, list[int]]:
        assert self.hub is not None
        out = {name: descendants(p.popen.pid) for name, p in self.hub.stack.procs.items() if p.popen is not None}
        out["postgresql"] = self.pg() if self.pg is not None else []
        out["rabbitmq"] = self.broker
        out["simulators"] = [proc.pid for proc in self.session.sims.values()]
        out["bench"] = [os.getpid()]
        return out

    def meter(self) -> CpuMeter:
        assert self.hub is not None
        return CpuMeter(self.groups, interval=0.5, rss_groups=tuple(self.hub.stack.procs)).start()

    # -- the journey ---------------------------------------------------------------------------
    def stock(self, orders_expected: int) -> None:
        assert self.hub is not None
        with self.hub.client("admin") as admin:
            if self.source == "shops":  # a generated order has 1-3 lines of 1-3 units, combinations exploded
                for sku in HUB_SKUS:
                    stock_sku(admin, sku, quantity=10 * orders_expected + 100, cost="5.00")
            else:
                for sku in self.skus:
                    stock_sku(admin, sku, quantity=orders_expected // len(self.skus) + 20, cost="5.00")

    def stocked_skus(self) -> list[str]:
        """The SKUs the orders take: the shop simulators' catalogue mapped to the hub's, or the bench's own."""
        return list(HUB_SKUS) if self.source == "shops" else self.skus

    async def _arrive(self, client: aiohttp.ClientSession, o: Order, give_up_at: float) -> None:
        """Deliver one order: POST it to the gateway, or have a shop simulator make it (paid). A POST that
        failed in transport (a kept-alive connection the server had just closed) is sent again: the
        gateway answers 200 with the order if the first one got through. A 429 (the hub is behind) is
        sent again after its Retry-After, as a client should, until `give_up_at` (time.time())."""
        o.sent, i = time.time(), self.count
        self.count += 1
        attempt = 0
        while attempt < TRIES:
            try:
                if self.source == "shops":
                    platform, shop = SHOP_NAMES[i % len(SHOP_NAMES)]
                    async with client.post(f"{self.sims[platform]}/__sim/orders/generate",
                                           json={"shop": shop, "count": 1, "seed": i, "paid_ratio": 1.0}) as reply:
                        if reply.status == 200:
                            made = (await reply.json())["orders"][0]
                            o.channel, o.external_id = platform, order_id(platform, made)
                            o.error = None  # accepted once the connector has put it in the order database
                            return
                        status = reply.status
                else:
                    async with client.post("/orders", json=order_body(self.skus[i % len(self.skus)],
                                                                      o.external_id)) as reply:
                        status, retry_after = reply.status, reply.headers.get("retry-after")
                        if status == 201 or (attempt and status == 200):
                            o.id, o.accepted, o.error = (await reply.json())["id"], time.time(), None
                            return
                    wait = float(retry_after or 1) if status == 429 else None
                    if wait is not None and time.time() + wait < give_up_at:
                        o.refusals += 1
                        await asyncio.sleep(wait)
                        continue
                o.error = f"HTTP {status}"
                return
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                o.error = type(exc).__name__
                o.transport_errors += 1
                if self.source == "shops":  # making it again could make a second order
                    return
            except aiohttp.ClientError as exc:
                o.error = type(exc).__name__
                return
            attempt += 1  # only a transport failure gets here

    async def _ship(self, client: httpx.AsyncClient, o: Order) -> None:
        """A shipment that failed in transport is left for the next wave (the order is still reserved
        unless it got through); one the gateway refused is counted and not tried again."""
        o.shipment_posted = time.time()
        try:
            reply = await client.post(f"/orders/{o.id}/shipment",
                                      json={"carrier": "SF", "tracking_number": f"SF{o.external_id}"[:32]})
            o.ship_status = str(reply.status_code)
        except httpx.TransportError as exc:
            o.ship_status, o.shipment_posted = type(exc).__name__, None
            o.transport_errors += 1
        except httpx.HTTPError as exc:
            o.ship_status = type(exc).__name__

    async def _ship_batch(self, client: httpx.AsyncClient, wave: list[Order]) -> None:
        """A wave's shipments in one POST /shipments/batch (at most BATCH_LIMIT of them): each order's
        result is what its single POST would have answered. A request that failed in transport leaves its
        orders for the next wave (a shipment that got through is the same shipment again: 200)."""
        posted = time.time()
        for o in wave:
            o.shipment_posted = posted
        try:
            reply = await client.post("/shipments/batch", json={"shipments": [
                {"order_id": o.id, "carrier": "SF", "tracking_number": f"SF{o.external_id}"[:32]} for o in wave]})
        except httpx.TransportError as exc:
            for o in wave:
                o.ship_status, o.shipment_posted = type(exc).__name__, None
                o.transport_errors += 1
            return
        except httpx.HTTPError as exc:
            for o in wave:
                o.ship_status = type(exc).__name__
            return
        if reply.status_code != 200:
            for o in wave:
                o.ship_status = f"batch {reply.status_code}"
            return
        for result in reply.json()["results"]:
            wave[result["index"]].ship_status = str(result["status"])

    async def _ship_wave(self, client: httpx.AsyncClient, wave: list[Order]) -> None:
        if self.ship == "single":
            await asyncio.gather(*(self._ship(client, o) for o in wave))
        else:
            await asyncio.gather(*(self._ship_batch(client, wave[i:i + BATCH_LIMIT])
                                   for i in range(0, len(wave), BATCH_LIMIT)))

    def _newly_reserved(self) -> list:
        """Orders `reserved` and not yet shipped, with when they entered the hub and when they became
        reserved (nothing but the shipment changes a reserved order's row after that)."""
        with self.order_db.reader() as s:
            return s.execute(select(orders.c.id, orders.c.channel, orders.c.external_order_id, orders.c.created_at,
                                    orders.c.updated_at).where(orders.c.status == "reserved")).all()

    async def _waves(self, arrivals: list[Order], shipper: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Every wave: ship all that became reserved since the last one, at once (and every
        PROGRESS_SECONDS, say on stderr how far the run is, so that a long run can be watched)."""
        said = time.monotonic()
        while not stop.is_set():
            began = time.monotonic()
            if began - said >= PROGRESS_SECONDS:
                said = began
                print(progress(arrivals), file=sys.stderr, flush=True)
            rows = await asyncio.to_thread(self._newly_reserved)
            ready = {(r.channel, r.external_order_id): r for r in rows}
            wave = []
            for o in arrivals:
                row = ready.get((o.channel, o.external_id))
                if row is not None and o.shipment_posted is None:
                    o.id, o.reserved = row.id, as_utc(row.updated_at).timestamp()
                    o.placed = as_utc(row.created_at).timestamp()
                    if o.accepted is None:
                        o.accepted = as_utc(row.created_at).timestamp()
                    wave.append(o)
            await self._ship_wave(shipper, wave)
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, self.wave_seconds - (time.monotonic() - began)))
            except TimeoutError:
                pass

    async def _offer(self, rate: float, seconds: float) -> tuple[list[Order], float]:
        """Deliver `rate` orders/s for `seconds`, ship them in waves, then drain (bounded) until the ledger
        confirmed both vouchers of every delivered order (looked up twice a second once arrivals stopped).
        Returns the arrivals and the window's end."""
        assert self.hub is not None
        n = max(1, round(rate * seconds))
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        gateway = self.hub.stack.gateway_url
        arrive_headers = {"X-API-Key": self.hub.key("sales")} if self.source == "gateway" else {}
        # every connection kept alive (one closed after each answer would be a new one for the next send)
        connector = aiohttp.TCPConnector(limit=ARRIVING_CONNECTIONS, keepalive_timeout=30)
        async with aiohttp.ClientSession(gateway, headers=arrive_headers, connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=60)) as arrive, \
                httpx.AsyncClient(base_url=gateway, headers={"X-API-Key": self.hub.key("warehouse")}, timeout=60,
                                  limits=limits) as shipper:
            t0 = time.time() + 0.2
            self.phases += 1
            arrivals = [Order(t0 + i / rate, f"{self.prefix}-{self.phases}-{i}") for i in range(n)]
            stop = asyncio.Event()
            waves = asyncio.create_task(self._waves(arrivals, shipper, stop))
            sends = []
            window_end = t0 + seconds
            give_up_at = window_end + self.drain_seconds / 2
            for o in arrivals:
                delay = o.intended - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                sends.append(asyncio.create_task(self._arrive(arrive, o, give_up_at)))
            await asyncio.sleep(max(0.0, window_end - time.time()))
            await asyncio.gather(*sends)  # refused orders are sent again for at most half the drain
            deadline = time.monotonic() + self.drain_seconds
            while time.monotonic() < deadline:
                await asyncio.to_thread(self._books, arrivals)
                if all(o.ledger_confirmed for o in arrivals if o.error is None):
                    break
                check_alive(self.hub)
                await asyncio.sleep(0.5)
            stop.set()
            await waves
        return arrivals, window_end

    def _books(self, arrivals: list[Order]) -> None:
        """Fill in when each order's vouchers were posted and when the ledger confirmed both (for the
        orders not confirmed yet)."""
        by_id = {o.id: o for o in arrivals if o.id and o.ledger_confirmed is None}
        ids = list(by_id)
        voucher_orders: dict[str, str] = {}
        posted: dict[str, list[float]] = {}
        with self.accounting_db.reader() as s:
            for chunk in range(0, len(ids), 500):
                for r in s.execute(select(vouchers.c.id, vouchers.c.source_id, vouchers.c.posted_at)
                                   .where(vouchers.c.source_id.in_(ids[chunk:chunk + 500]))):
                    voucher_orders[r.id] = r.source_id
                    posted.setdefault(r.source_id, []).append(as_utc(r.posted_at).timestamp())
        confirmed: dict[str, list[float]] = {}
        pushes, voucher_ids = ledger_store.pushes, list(voucher_orders)
        with self.ledger_db.reader() as s:
            for chunk in range(0, len(voucher_ids), 500):
                for r in s.execute(select(pushes.c.voucher_id, pushes.c.updated_at)
                                   .where(pushes.c.voucher_id.in_(voucher_ids[chunk:chunk + 500]))
                                   .where(pushes.c.status == "confirmed")):
                    confirmed.setdefault(voucher_orders[r.voucher_id], []).append(as_utc(r.updated_at).timestamp())
        for hub_id, o in by_id.items():
            if len(posted.get(hub_id, ())) >= VOUCHERS_PER_ORDER:
                o.vouchers_posted = max(posted[hub_id])
            if len(confirmed.get(hub_id, ())) >= VOUCHERS_PER_ORDER:
                o.ledger_confirmed = max(confirmed[hub_id])

    def autovacuum(self) -> str | None:
        """PostgreSQL's autovacuum setting (None on SQLite): off, nothing analyzes or vacuums the hub's
        tables as they grow, and a long run's figures are not those of a deployment."""
        if is_sqlite(self.order_db.engine):
            return None
        with self.order_db.reader() as s:
            return str(s.execute(text("SHOW autovacuum")).scalar())

    def oversold(self) -> int:
        """Units reserved beyond what is on hand, over the bench's SKUs in every warehouse (must be 0)."""
        assert self.hub is not None
        with self.hub.client("admin") as admin:
            return sum(max(0, level["reserved"] - level["on_hand"])
                       for sku in self.stocked_skus() for level in admin.get(f"/stock/{sku}").json()["levels"])

    def batches(self) -> dict[str, list[float]]:
        """{process.handler: [batches, events]} so far, from each process's hub_message_batch_size (and
        {gateway.call: [calls, requests]} from its hub_gateway_coalesced_requests)."""
        assert self.hub is not None
        out: dict[str, list[float]] = {}
        for process, proc in self.hub.stack.procs.items():
            if not proc.metrics_port:
                continue
            # the gateway serves its metrics on its own HTTP port
            url = f"{self.hub.stack.gateway_url}/metrics" if process == "gateway" else \
                f"http://127.0.0.1:{proc.metrics_port}/metrics"
            try:
                text = httpx.get(url, timeout=5).text
            except httpx.HTTPError:  # a process that serves no metrics port of its own
                continue
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name in BATCH_SAMPLES:
                        label = sample.labels.get("handler") or sample.labels["call"]
                        entry = out.setdefault(f"{process}.{label}", [0.0, 0.0])
                        entry[sample.name.endswith("_sum")] += sample.value
        return out

    def run_rate(self, rate: float, seconds: float, idle_ms_per_s: dict[str, float]) -> dict:
        batches_before = self.batches()
        meter = self.meter()
        arrivals, window_end = asyncio.run(self._offer(rate, seconds))
        used = meter.stop()
        batches = {handler: [n - batches_before.get(handler, [0, 0])[0], e - batches_before.get(handler, [0, 0])[1]]
                   for handler, (n, e) in self.batches().items()}
        result = summarise(arrivals, rate, seconds, window_end)
        result["hops_to_reserved_ms"] = hops(self.session.urls["inventory"], arrivals)
        done = result["completed"]
        per_order = {g: round(ms / done, 2) for g, ms in sorted(used.items())} if done else {}
        hub_ms = sum(ms for g, ms in used.items() if g not in OUTSIDE_HUB)
        idle_hub = sum(v for g, v in idle_ms_per_s.items() if g not in OUTSIDE_HUB) * meter.seconds
        result.update({
            "measured_seconds": round(meter.seconds, 1),
            "cpu_ms_per_order": per_order,
            "cpu_ms_per_order_hub": round(hub_ms / done, 2) if done else None,
            "cpu_ms_per_order_hub_and_postgresql": round((hub_ms + used.get("postgresql", 0)) / done, 2) if done else None,
            # the same less what the hub uses doing nothing over as long a time
            "cpu_ms_per_order_hub_above_idle": round((hub_ms - idle_hub) / done, 2) if done else None,
            "hub_rss_peak_mib": round(meter.peak_rss_total / 2**20, 1),
            "rss_peak_mib": {g: round(b / 2**20, 1) for g, b in sorted(meter.peak_rss.items())},
            # per batched handler: events it applied, and in how many transactions
            "batches": {handler: {"events": int(e), "transactions": int(n),
                                  "events_per_transaction": round(e / n, 1)}
                        for handler, (n, e) in sorted(batches.items()) if n},
            "load_average": [round(x, 2) for x in os.getloadavg()],
        })
        return result

    def idle(self, seconds: float) -> dict:
        meter = CpuMeter(self.groups, interval=0.5, rss_groups=tuple(self.hub.stack.procs) if self.hub else ())
        meter.start()
        time.sleep(seconds)
        used = meter.stop()
        per_s = {g: round(ms / meter.seconds, 1) for g, ms in sorted(used.items())}
        hub = sum(v for g, v in per_s.items() if g not in OUTSIDE_HUB)
        return {"seconds": round(meter.seconds, 1), "cpu_ms_per_s": per_s, "hub_cpu_ms_per_s": round(hub, 1),
                "hub_percent_of_a_core": round(hub / 10, 1), "hub_rss_mib": round(meter.peak_rss_total / 2**20, 1),
                "rss_mib": {g: round(b / 2**20, 1) for g, b in sorted(meter.peak_rss.items())}}


def run_baselines(session: BenchSession, scale: float) -> dict:
    if scale <= 0:
        return {}
    out = {"pika_confirm_each": baselines.bench_pika(session.vhost_uri, max(100, int(2000 * scale))),
           "pika_pipelined": baselines.pika_pipelined(session.vhost_uri, max(500, int(20000 * scale)))}
    if session.backend == "postgresql":
        raw = session.scratch_database("raw")
        secs = max(1.0, 5 * scale)
        out["pg_reserve_outbox_spread"] = baselines.pg_reserve_outbox(raw, seconds=secs, skus=1000)
        out["pg_reserve_outbox_hot"] = baselines.pg_reserve_outbox(raw, seconds=secs, skus=1)
    out["trivial_http"] = baselines.trivial_http(session.log_dir, seconds=max(1.0, 3 * scale))
    return out


def start_hub(session: BenchSession, source: str) -> dict[str, str]:
    """The hub with the Kingdee-style ledger (and for `shops` the Taobao and JD simulators and their
    connectors, set up as bench.channel_throughput does); the shop simulators' URLs."""
    env = {"HUB_LEDGERS": "kingdee", "HUB_KINGDEE_URL": f"{session.simulator('kingdee')}/k3cloud/", **DEMO_KINGDEE,
           **AS_DEPLOYED}
    sims = {}
    if source == "shops":
        sims = {platform: session.simulator(platform) for platform in ("taobao", "jd")}
        shops_file = session.log_dir / "shops.json"
        shops_file.write_text(json.dumps({p: {**cfg, "url": sims[p], "timeout_seconds": 1, "max_wait_seconds": 2}
                                          for p, cfg in shops_config().items()}))
        env.update({"HUB_SHOPS_FILE": str(shops_file), "HUB_SHOPS_POLL_SECONDS": str(POLL_SECONDS)})
    session.start_hub(env)
    return sims


def run(rates: list[float], seconds: float, db: str, source: str = "gateway", idle_seconds: float = 10,
        wave_seconds: float = 1.0, drain_seconds: float = 60, baseline_scale: float = 1.0, warmup: int = 5,
        skus: int = SKUS, ship: str = "batch") -> dict:
    result: dict = {"db": db, "source": source, "skus": skus, "rates": [], "wave_seconds": wave_seconds, "ship": ship,
                    "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    databases = (*HUB_DATABASES, "ledger", *(("shops",) if source == "shops" else ()))
    with BenchSession(db, databases) as session:
        result["log_dir"] = str(session.log_dir)
        result["baselines"] = run_baselines(session, baseline_scale)
        sims = start_hub(session, source)
        journey = Journey(session, source, wave_seconds, drain_seconds, sims, skus, ship)
        result["postgresql_autovacuum"] = journey.autovacuum()
        try:
            journey.stock(warmup + sum(round(r * seconds) for r in rates))
            if source == "shops":  # the connectors start a day back: measure new orders, not the catch-up
                assert session.hub is not None
                result["catch_up_seconds"] = round(wait_caught_up(session.hub, 180), 1)
            if warmup:  # connections, gRPC channels, the ledger's session, caches
                warm = journey.run_rate(warmup, 1, {})
                if warm["completed"] < warm["accepted"]:
                    raise RuntimeError(f"warm-up orders did not complete: {warm}")
            result["idle"] = journey.idle(idle_seconds)
            for rate in rates:
                result["rates"].append(journey.run_rate(rate, seconds, result["idle"]["cpu_ms_per_s"]))
            result["oversold_units"] = journey.oversold()
        finally:
            journey.close()
    result["log_problems"] = log_problems(session.log_dir)
    return result


def _p(lat: dict | None) -> str:
    return "–" if not lat else f"{lat['p50']:.0f} / {lat['p95']:.0f} / {lat['p99']:.0f}"


def report(r: dict) -> str:
    lines = [f"open-loop full journey, orders from the {r['source']}, on {r['db']} "
             + (f"over {r['skus']} SKU(s) " if r["source"] == "gateway" else "")
             + f"(load average at start {r['load_average_start']}"
             + (f", PostgreSQL autovacuum {r['postgresql_autovacuum']}" if r.get("postgresql_autovacuum") else "")
             + "), shipped "
             + ("one POST per order" if r.get("ship") == "single" else "a wave per POST /shipments/batch")]
    if "catch_up_seconds" in r:
        lines.append(f"shop connectors caught up with now {r['catch_up_seconds']}s after the hub was ready")
    b = r["baselines"]
    if b:
        lines.append("raw baselines in this run:")
        for name in ("pika_confirm_each", "pika_pipelined"):
            p = b[name]
            lines.append(f"  {name}: {p['msgs_per_s']:.0f} msgs/s ({p['messages']} x {p['body_bytes']} B, quorum queue)")
        for name in ("pg_reserve_outbox_spread", "pg_reserve_outbox_hot"):
            if name in b:
                p = b[name]
                lines.append(f"  {name}: " + (f"{p['tx_per_s']:.0f} tx/s, {p['pg_cpu_ms_per_tx']} ms PostgreSQL CPU/tx "
                                             f"({p['clients']} clients)" if "tx_per_s" in p else str(p)))
        h = b["trivial_http"]
        lines.append(f"  trivial_http: {h['req_per_s']:.0f} req/s closed loop x{h['concurrency']}, "
                     f"{h['server_cpu_ms_per_req']} ms server CPU/req")
    i = r["idle"]
    lines.append(f"idle hub: {i['hub_cpu_ms_per_s']} ms CPU/s ({i['hub_percent_of_a_core']}% of a core), "
                 f"RSS {i['hub_rss_mib']} MiB; per process ms/s: " +
                 ", ".join(f"{g} {v}" for g, v in sorted(i["cpu_ms_per_s"].items(), key=lambda kv: -kv[1]) if v))
    for x in r["rates"]:
        lines += [
            f"rate {x['rate']:g}/s for {x['seconds']:g}s: offered {x['offered']} ({x['offered_per_s']}/s), accepted "
            f"{x['accepted']}, reserved {x['reserved_per_s']}/s and completed {x['completed_per_s']}/s in the window, "
            f"{x['completed']} completed after the drain; backlog at end {x['backlog_at_end']}"
            + (f"; not delivered {x['arrival_errors']}" if x["arrival_errors"] else "")
            + (f"; shipment errors {x['ship_errors']}" if x["ship_errors"] else "")
            + (f"; requests failed in transport and sent again {x['transport_errors']}" if x["transport_errors"] else "")
            + (f"; 429 (hub behind) {x['refused_429']} times, to {x['orders_refused_at_least_once']} orders, each "
               "sent again after Retry-After" if x.get("refused_429") else ""),
            "  latency from intended arrival p50 / p95 / p99 ms: "
            + ", ".join(f"{m} {_p(x['latency_ms'][m])}" for m in LATENCIES) + f"; send lag {_p(x['send_lag_ms'])}"
            + f"; reserved after accepted {_p(x['latency_ms'].get('reserved_after_accepted'))}",
            "  to reserved leg by leg (bench/hops.py) p50 / p95 / p99 ms: "
            + ", ".join(f"{h} {_p(v)}" for h, v in (x.get("hops_to_reserved_ms") or {}).items()),
            f"  CPU ms per order: hub {x['cpu_ms_per_order_hub']} (above idle {x['cpu_ms_per_order_hub_above_idle']})"
            + (f", hub + PostgreSQL {x['cpu_ms_per_order_hub_and_postgresql']}" if r["db"] == "postgresql" else
               " (SQLite works inside the hub's processes)")
            + f"; hub RSS peak {x['hub_rss_peak_mib']} MiB; "
            f"load average {x['load_average']}",
            "    " + ", ".join(f"{g} {v}" for g, v in sorted(x["cpu_ms_per_order"].items(), key=lambda kv: -kv[1])),
            "  events per transaction: " + ", ".join(f"{h} {b['events_per_transaction']}"
                                                      for h, b in x.get("batches", {}).items()),
        ]
    lines.append(f"oversold units at the end: {r.get('oversold_units')}")
    lines.append(f"logs: {r['log_dir']}" + (f"  ERROR/Traceback lines: {r['log_problems']}" if r["log_problems"] else ""))
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", default="5,10,20", help="orders per second, comma-separated, one after the other")
    ap.add_argument("--seconds", type=float, default=30, help="arrival window per rate")
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--source", choices=("gateway", "shops"), default="gateway",
                    help="orders POSTed to the gateway, or made in the shop simulators and pulled by the connectors")
    ap.add_argument("--idle-seconds", type=float, default=10, help="how long the idle hub's CPU is measured")
    ap.add_argument("--wave-seconds", type=float, default=1.0, help="how often reserved orders are shipped")
    ap.add_argument("--ship", choices=SHIP_MODES, default="batch",
                    help=f"a wave through POST /shipments/batch (at most {BATCH_LIMIT} a request), or one POST "
                         "/orders/{id}/shipment per order")
    ap.add_argument("--drain-seconds", type=float, default=60, help="at most this long after arrivals stop")
    ap.add_argument("--baseline-scale", type=float, default=1.0, help="size of the raw baselines; 0 skips them")
    ap.add_argument("--skus", type=int, default=SKUS, help="SKUs the gateway's orders spread over; 1: one hot SKU")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    rates = [float(x) for x in args.rates.split(",") if x.strip()]
    if not rates or min(rates) <= 0 or args.seconds <= 0:
        ap.error("--rates must be positive numbers and --seconds positive")
    if sum(r * args.seconds for r in rates) > 200_000:
        ap.error("more than 200,000 orders in one run: use fewer rates or shorter windows")
    result = run(rates, args.seconds, args.db, args.source, args.idle_seconds, args.wave_seconds, args.drain_seconds,
                 args.baseline_scale, skus=max(1, args.skus), ship=args.ship)
    print(json.dumps(result) if args.json else report(result))


if __name__ == "__main__":
    main()
