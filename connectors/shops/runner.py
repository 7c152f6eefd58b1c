"""A shop connector process (`hub shops run --platform taobao|jd`), serving every shop of one
platform: pulls changed orders by modified time (persisted watermark, overlap window), publishes
each new version to the hub, holds what it cannot map as an exception, and sends shipments and
sellable stock back to the platform. A plain process: no eventlet.

Its loop sleeps in the consumer's poll until there is something to do, instead of waking every
0.1 s: a shop's next pull (every HUB_SHOPS_POLL_SECONDS), a shipment or stock quantity to send (a
round right after the event that owes it, at most every PUSH_GAP_SECONDS), a failed send's back-off
ending (next_attempt_at), work the gRPC API asked for (`call_soon`, `ask_redrive` wake the loop),
and in any case every IDLE_LOOK_SECONDS; a poll with nothing to do returns after at most
POLL_MAX_SECONDS, and only a round queries."""
from __future__ import annotations

import json
import logging
import math
import queue
import signal
import time
import uuid
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import partial

from prometheus_client import Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY
from sqlalchemy import func, select, update

from connectors.shops import core, refunds, store
from connectors.shops.platform import PlatformError, Shop
from contracts import ChannelOrderChanged, OrderShipped, ShopFailing, StockChanged
from hubkit import delivery, heap
from hubkit.amqp_consumer import Consumer
from hubkit.broker import CONNECTION_ERRORS
from hubkit.db import DATABASE_AWAY, AwayBackoff, Database, as_utc, dialect_insert
from hubkit.envelope import Envelope
from hubkit.health import Health
from hubkit.inbox import handle_many
from hubkit.intake import IntakeGate, IntakeState
from hubkit.publisher import ConfirmedPublisher, PublishFailed
from hubkit.sql import chunks

log = logging.getLogger(__name__)

ORDERS_PULLED = Counter("hub_shop_orders_pulled_total", "Order versions read from the platform", ["platform", "shop"])
ORDERS_PUBLISHED = Counter("hub_shop_orders_published_total", "Order versions published to the hub",
                           ["platform", "shop"])
DUPLICATES = Counter("hub_shop_duplicates_suppressed_total", "Order versions already published", ["platform", "shop"])
HELD = Counter("hub_shop_exceptions_total", "Orders held as exceptions, by reason", ["platform", "reason"])
PAUSED = Gauge("hub_shop_pulls_paused", "1 while pulls wait because the hub is behind (backpressure)", ["platform"])

SETTLE = timedelta(seconds=2)      # changes this recent are left to the next window
# a window re-reads SETTLE before the watermark (ties on a modified time the platforms give to the second);
# every DEEP_EVERY_SECONDS, and first after a start, it re-reads OVERLAP, for changes the platform showed
# late. Re-reading OVERLAP at every pull cost most of a connector's CPU: at 20 orders/s each was read ~20 times
OVERLAP = timedelta(minutes=2)
DEEP_EVERY_SECONDS = 30.0
MAX_WINDOW = timedelta(minutes=30)  # the platforms advise short windows
FIRST_LOOKBACK = timedelta(days=1)
LOOP_STALE_SECONDS = 60.0  # a pull may wait out a platform's rate limits and retries
# events arriving this close together share one round of sends to the platform, as they did when
# the loop woke every 0.1 s; an idle connector sends at once
PUSH_GAP_SECONDS = 0.1
# what the loop is not told of is seen within this, e.g. a stock quantity that waited for its SKU's
# platform id, learnt on a pull; well inside LOOP_STALE_SECONDS
IDLE_LOOK_SECONDS = 5.0
SHIPMENTS_PER_ROUND, STOCK_PER_ROUND = 50, 200
# the longest poll: SIGTERM's handler can only set a flag, so the loop sees it within this (a turn
# with nothing due costs microseconds: what cost CPU were the queries of a round every 0.1 s)
POLL_MAX_SECONDS = 1.0
TOKEN_READ_SECONDS = 5.0
# what a shop connector consumes (as shops_<platform>), the method that applies each, and for a
# quantity where only the newest counts, what names it: of a batch's stock_changed for one SKU only
# the newest is applied (the others are recorded as seen)
HANDLERS = ((OrderShipped, "on_order_shipped", None), (StockChanged, "on_stock_changed", lambda e: e.sku))


def _now():
    return datetime.now(timezone.utc)


class TokenStore:
    """The latest OAuth pair of each shop, kept in the connector's database (they rotate). Every API call
    names the token, so the pair is read from memory, and from the database again after TOKEN_READ_SECONDS
    (a connector stopping as another starts may have renewed it meanwhile)."""

    def __init__(self, db: Database):
        self.db = db
        self._read: dict[tuple[str, str], tuple[float, tuple[str, str] | None]] = {}  # key -> (when, pair)

    def get(self, shop: Shop):
        key = (shop.platform, shop.shop)
        read_at, pair = self._read.get(key, (-math.inf, None))
        if time.monotonic() - read_at < TOKEN_READ_SECONDS:
            return pair
        with self.db.reader() as s:
            row = s.execute(select(store.shops.c.access_token, store.shops.c.refresh_token).where(
                store.shops.c.platform == shop.platform, store.shops.c.shop == shop.shop)).first()
        pair = (row.access_token, row.refresh_token) if row and row.access_token else None
        self._read[key] = (time.monotonic(), pair)
        return pair

    def save(self, shop: Shop, access: str, refresh: str):
        with self.db.session() as s:
            s.execute(update(store.shops).where(store.shops.c.platform == shop.platform, store.shops.c.shop == shop.shop)
                      .values(access_token=access, refresh_token=refresh))
        self._read[(shop.platform, shop.shop)] = (time.monotonic(), (access, refresh))


class ShopConnector:
    def __init__(self, settings, platform: str, client, shops: list[Shop], seed_mappings: dict, db: Database,
                 intake: IntakeGate | None = None, refunder: refunds.Refunder | None = None,
                 returner: refunds.Returner | None = None):
        self.settings, self.platform, self.client, self.db = settings, platform, client, db
        self.intake = intake  # whether the hub is behind; None: never asked
        self.refunder = refunder  # applies a platform's refund in the hub; None: refunds are only recorded
        self.returner = returner  # a refund with goods back as an RMA; None: held for a person
        self.shops = {s.shop: s for s in shops}
        self.publisher = ConfirmedPublisher(settings.amqp_uri)
        self.consumer = Consumer(settings.amqp_uri, delivery.Policy.from_settings(settings), prefetch=100,
                                 stale_after=LOOP_STALE_SECONDS)
        consumer = f"shops_{platform}"
        for contract, method, newest_of in HANDLERS:
            self.consumer.subscribe(contract, consumer, partial(self._apply, f"{consumer}.{contract.type}",
                                                                getattr(self, method), newest_of),
                                    method, batched=True)
        self.stopping, self.redrive_requested = False, False
        self.push_asked = False  # an event owes the platform a shipment or a quantity: a round soon
        self.more_to_push = False  # the last round took as many as one round takes
        self.next_pull: dict[str, float] = {}
        self.deep_pull: dict[str, float] = {}  # shop -> when its window next reaches back OVERLAP (monotonic)
        self.calls: queue.Queue = queue.Queue()  # work asked for by the gRPC API's threads
        with db.session() as s:
            for shop in shops:
                s.execute(dialect_insert(s, store.shops).values(platform=platform, shop=shop.shop,
                                                               watermark=_now() - FIRST_LOOKBACK).on_conflict_do_nothing())
            for outer, components in seed_mappings.items():
                s.execute(dialect_insert(s, store.sku_mappings).values(
                    platform=platform, outer_sku=outer, components=core.components_json(components))
                    .on_conflict_do_nothing())

    def call_soon(self, fn, *args) -> Future:
        """Run `fn(*args)` in the connector's own loop, which owns the publisher (its connection is not
        thread-safe); for the gRPC API's threads, which wait on the future."""
        future: Future = Future()
        self.calls.put((future, fn, args))
        self.consumer.wake()
        return future

    def ask_redrive(self) -> None:
        """From any thread: publish the held orders whose cause is gone, in the connector's loop."""
        self.redrive_requested = True
        self.consumer.wake()

    def _run_calls(self) -> None:
        while True:
            try:
                future, fn, args = self.calls.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except Exception as exc:  # the caller hears of it; the loop goes on
                    future.set_exception(exc)

    # -- orders in ------------------------------------------------------------
    def mappings(self, session=None) -> dict:
        m = store.sku_mappings
        if session is None:
            with self.db.reader() as s:
                return self.mappings(s)
        return {r.outer_sku: json.loads(r.components)
                for r in session.execute(select(m).where(m.c.platform == self.platform)).all()}

    def pull(self, shop: Shop, start: datetime | None = None, end: datetime | None = None) -> dict:
        """Pull one window (by default: from the watermark less SETTLE, or less OVERLAP when a deep pull is
        due, to at most MAX_WINDOW later: stats["behind"] when that ends before now). The watermark moves
        only after every order of the window was published or held."""
        t = store.shops
        with self.db.reader() as s:
            watermark = as_utc(s.execute(select(t.c.watermark).where(t.c.platform == self.platform,
                                                                     t.c.shop == shop.shop)).scalar_one())
        advance = start is None
        if start is None:
            deep = time.monotonic() >= self.deep_pull.get(shop.shop, 0.0)
            start = watermark - (OVERLAP if deep else SETTLE)
            if deep:
                self.deep_pull[shop.shop] = time.monotonic() + DEEP_EVERY_SECONDS
        now = _now()
        end = end or min(now - SETTLE, start + MAX_WINDOW)
        behind = advance and end < now - SETTLE  # a window cut at MAX_WINDOW: more is waiting (after a stop)
        stats = {"read": 0, "published": 0, "duplicates": 0, "held": 0, "refunds": 0, "refund_duplicates": 0}
        try:
            orders = self.client.orders_modified(shop, start, end)
            for outcome in self.handle_page(shop, sorted(orders, key=lambda o: o.modified), self.mappings()):
                stats[outcome] += 1
                stats["read"] += 1
            # the window's refunds after its orders (a refund's order is published first), with the same
            # watermark: it moves only once both were kept
            for refund in sorted(self.client.refunds_modified(shop, start, end), key=lambda r: r.modified):
                stats["refund_duplicates" if refunds.record(self.db, refund) == "duplicate" else "refunds"] += 1
        except (PlatformError, PublishFailed, *CONNECTION_ERRORS) as exc:
            log.warning("%s %s: pull of %s..%s failed: %s", self.platform, shop.shop, start, end, exc)
            with self.db.session() as s:
                s.execute(update(t).where(t.c.platform == self.platform, t.c.shop == shop.shop).values(
                    last_error=str(exc)[:500], retries=t.c.retries + 1,
                    error_since=_now() if not self._in_error(shop) else t.c.error_since))
            self._announce_failing(shop, str(exc))
            return {**stats, "error": str(exc)}
        with self.db.session() as s:
            values = {"last_pull_at": _now(), "last_error": None, "error_since": None,
                      "orders_published": t.c.orders_published + stats["published"],
                      "duplicates_suppressed": t.c.duplicates_suppressed + stats["duplicates"]}
            if advance and end > watermark:
                values["watermark"] = end
            s.execute(update(t).where(t.c.platform == self.platform, t.c.shop == shop.shop).values(**values))
        stats["behind"] = int(behind)
        if self.refunder is not None:
            stats["refunds_applied"] = refunds.apply_due(self.db, self.platform, {shop.shop}, self.refunder,
                                                          self.returner)["applied"]
        return stats

    def _announce_failing(self, shop: Shop, error: str) -> None:
        """shop_failing, for the notifier: at every failed pull while the shop is in error, under one
        event id (platform, shop, since when), so a notice lost with the broker is sent by the next
        failed pull, and the notifier tells once per fall into error. Not mandatory (a hub without a
        notifier that wants it routes it nowhere); a publish that fails waits for the next pull."""
        t = store.shops
        with self.db.reader() as s:
            since = s.execute(select(t.c.error_since).where(t.c.platform == self.platform,
                                                            t.c.shop == shop.shop)).scalar()
        if since is None:
            return
        since = as_utc(since)
        event = ShopFailing(connector=f"shops_{self.platform}", platform=self.platform, shop=shop.shop,
                            error=error[:500], since=since)
        envelope = event.envelope(aggregate_id=f"{self.platform}:{shop.shop}"[:64], sequence=1,
                                  correlation_id="", actor=f"connector:{self.platform}")
        envelope = replace(envelope, event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"shop_failing:{self.platform}:"
                                                         f"{shop.shop}:{since.isoformat()}").hex)
        try:
            self.publisher.publish(envelope, mandatory=False)
        except Exception as exc:
            log.warning("%s %s: could not announce the failing shop: %s", self.platform, shop.shop, exc)

    def _in_error(self, shop: Shop) -> bool:
        t = store.shops
        with self.db.reader() as s:
            return s.execute(select(t.c.error_since).where(t.c.platform == self.platform,
                                                           t.c.shop == shop.shop)).scalar() is not None

    def handle(self, shop: Shop, order: core.PlatformOrder, mappings: dict) -> str:
        return self.handle_page(shop, [order], mappings)[0]

    def handle_page(self, shop: Shop, orders: list[core.PlatformOrder], mappings: dict) -> list[str]:
        """Publish the versions of `orders` (one shop's, oldest first) not published before; per order
        "published", "duplicates" (the overlap window reads most orders again) or "held". The page's
        bookkeeping is one read before and one write after its publishes, which share one confirm window:
        when some of them fail, those the broker confirmed are recorded and the next pull sends the rest.
        An order published but not recorded (a crash in between) is published again, and the hub's inbox
        drops the repeat."""
        p = store.published
        last: dict[str, int] = {}
        with self.db.reader() as s:
            for ids in chunks([o.external_order_id for o in orders]):
                last.update(s.execute(select(p.c.external_order_id, p.c.version).where(
                    p.c.platform == self.platform, p.c.shop == shop.shop, p.c.external_order_id.in_(ids))).all())
        fresh = [o for o in orders if o.external_order_id not in last or o.version > last[o.external_order_id]]
        DUPLICATES.labels(self.platform, shop.shop).inc(len(orders) - len(fresh))
        ORDERS_PULLED.labels(self.platform, shop.shop).inc(len(orders))
        self._learn_refs(fresh)
        outcomes = {o.external_order_id: "duplicates" for o in orders}
        envelopes, rows = [], []
        for order in fresh:
            try:
                payload = core.hub_order(order, mappings)
            except core.Held as held:
                self._hold(order, held)
                outcomes[order.external_order_id] = "held"
                continue
            line_ids, line_goods = payload.pop("platform_line_ids"), payload.pop("platform_line_goods")
            envelopes.append(ChannelOrderChanged(**payload).envelope(
                aggregate_id=f"{self.platform}:{shop.shop}:{order.external_order_id}", sequence=order.version,
                correlation_id=f"{self.platform}:{order.external_order_id}", actor=f"connector:{self.platform}"))
            rows.append({"external_order_id": order.external_order_id, "version": order.version,
                         "line_ids": json.dumps(line_ids),
                         "line_amounts": json.dumps([line["amount"] for line in payload["lines"]]),
                         "line_quantities": json.dumps([line["quantity"] for line in payload["lines"]]),
                         "line_goods": json.dumps(line_goods)})
        try:
            self.publisher.publish_many(envelopes)  # one confirm window for the page
        except PublishFailed as failed:  # what the broker confirmed is recorded: the next pull sends the rest
            self._record_published(shop, [rows[i] for i in sorted(failed.confirmed)])
            raise
        self._record_published(shop, rows)
        outcomes.update((row["external_order_id"], "published") for row in rows)
        return [outcomes[o.external_order_id] for o in orders]

    def _record_published(self, shop: Shop, kept: list[dict]) -> None:
        if not kept:
            return
        p, x = store.published, store.exceptions
        with self.db.session() as s:
            upsert = dialect_insert(s, p)
            s.execute(upsert.on_conflict_do_update(
                index_elements=["platform", "shop", "external_order_id"],
                set_={c: upsert.excluded[c] for c in ("version", "line_ids", "line_amounts", "line_quantities",
                                                      "line_goods")}),
                [{"platform": self.platform, "shop": shop.shop, **row} for row in kept])
            for ids in chunks([row["external_order_id"] for row in kept]):
                s.execute(update(x).where(x.c.platform == self.platform, x.c.shop == shop.shop,
                                          x.c.external_order_id.in_(ids), x.c.status == "open")
                          .values(status="resolved", resolved_at=_now()))
        ORDERS_PUBLISHED.labels(self.platform, shop.shop).inc(len(kept))

    def _hold(self, order: core.PlatformOrder, held: core.Held) -> None:
        HELD.labels(self.platform, held.reason).inc()
        log.warning("%s %s: order %s held: %s", self.platform, order.shop, order.external_order_id, held.detail)
        x = store.exceptions
        with self.db.session() as s:
            s.execute(dialect_insert(s, x).values(
                platform=self.platform, shop=order.shop, external_order_id=order.external_order_id, reason=held.reason,
                detail=held.detail[:500], version=order.version, payload=json.dumps(order.raw, ensure_ascii=False, default=str),
                status="open", created_at=_now())
                .on_conflict_do_update(index_elements=["platform", "shop", "external_order_id"], set_={
                    "reason": held.reason, "detail": held.detail[:500], "version": order.version,
                    "payload": json.dumps(order.raw, ensure_ascii=False, default=str), "status": "open", "resolved_at": None}))

    def _learn_refs(self, orders: list[core.PlatformOrder]) -> None:
        """The platform's ids of the outer SKUs these orders name, kept where not known yet (stock pushes
        wait for them)."""
        m = store.sku_mappings
        refs = {outer: ref for order in orders for outer, ref in self.client.platform_refs(order).items()}
        if refs:
            with self.db.session() as s:
                for outer, ref in sorted(refs.items()):
                    s.execute(update(m).where(m.c.platform == self.platform, m.c.outer_sku == outer,
                                              m.c.platform_ref.is_(None)).values(platform_ref=ref))

    def redrive(self) -> int:
        """Publish the held orders whose cause is gone (for example a mapping added since)."""
        x, done = store.exceptions, 0
        with self.db.reader() as s:  # held refunds are a person's to settle, not orders to publish
            held = s.execute(select(x).where(x.c.platform == self.platform, x.c.status == "open",
                                             x.c.reason.not_in(refunds.REFUND_REASONS))).all()
        mappings = self.mappings()
        for row in held:
            shop = self.shops.get(row.shop)
            if shop is None:
                continue
            order = self.client.normalize(shop, json.loads(row.payload, parse_float=Decimal))
            done += self.handle(shop, order, mappings) == "published"
        return done

    def paused(self, shop: Shop) -> bool:
        """Whether a pull that is due waits because the hub is behind: then the shop's next pull is
        put off by the order service's Retry-After. Its watermark stays where it is, so the pull after
        the pause reads every order changed meanwhile."""
        state = self.intake.state() if self.intake is not None else None
        PAUSED.labels(self.platform).set(int(bool(state and state.behind)))
        if state is None or not state.behind:
            return False
        self.next_pull[shop.shop] = time.monotonic() + max(1, state.retry_after_seconds)
        return True

    # -- back to the platform ---------------------------------------------------
    def _apply(self, inbox: str, effect, newest_of, batch: list) -> list:
        """`effect(uow, event, envelope)` at most once per event (the connector's inbox), a batch in one
        transaction; with `newest_of`, only to the newest event of each key in the batch, in the keys'
        order (the connectors of both platforms write the SKUs' hub_available rows: taken in one order,
        their locks cannot deadlock)."""
        events = {envelope.event_id: event for event, envelope in batch}

        def apply(uow, fresh: list[Envelope]) -> None:
            if newest_of is not None:
                newest: dict = {}
                for envelope in fresh:
                    key = newest_of(events[envelope.event_id])
                    if key not in newest or envelope.sequence > newest[key].sequence:
                        newest[key] = envelope
                fresh = [newest[key] for key in sorted(newest)]
            for envelope in fresh:
                effect(uow, events[envelope.event_id], envelope)
        outcomes = handle_many(self.db, "shops", inbox, [envelope for _, envelope in batch], apply)
        self.push_asked = self.push_asked or any(outcome is True for outcome in outcomes)
        return outcomes

    def on_order_shipped(self, uow, event: OrderShipped, envelope: Envelope) -> None:
        if event.channel != self.platform or event.shop not in self.shops:
            return
        pv = store.published
        ids = uow.session.execute(select(pv.c.line_ids).where(
            pv.c.platform == self.platform, pv.c.shop == event.shop,
            pv.c.external_order_id == event.external_order_id)).scalar()
        shipped_ids = sorted(set(json.loads(ids or "[]")))
        s, carrier, tracking, status = uow.session, event.carrier, event.tracking_number, "pending"
        if event.parcel is not None:  # a parcel of a partial shipment: its lines, each once
            shipped_ids, carrier, tracking, status = self._parcel(s, event, json.loads(ids or "[]"))
            if status is None:
                return
        s.execute(dialect_insert(s, store.shipments).values(
            platform=self.platform, shop=event.shop, external_order_id=event.external_order_id, carrier=carrier,
            tracking_number=tracking, line_ids=json.dumps(shipped_ids), status=status,
            next_attempt_at=_now(), updated_at=_now()).on_conflict_do_nothing())

    def _parcel(self, s, event: OrderShipped, line_ids: list) -> tuple[list, str, str, str | None]:
        """What a parcel's confirmation sends: (platform line ids, carrier, tracking number, status; None:
        nothing to send). Taobao: the parcel's sub-orders (oid) not sent with an earlier parcel (a sub-order
        ships once: one split over parcels goes with its first). JD (ships_once): the parcel waits, and the
        order's last one sends every parcel's waybill in one shipment."""
        sh = store.shipments
        earlier = s.execute(select(sh.c.carrier, sh.c.tracking_number, sh.c.line_ids, sh.c.status).where(
            sh.c.platform == self.platform, sh.c.shop == event.shop,
            sh.c.external_order_id == event.external_order_id, sh.c.tracking_number != event.tracking_number)).all()
        mine = [line_ids[l.line_no - 1] for l in event.lines if 0 < l.line_no <= len(line_ids)]
        if self.client.ships_once:
            if not event.completes_order:
                return sorted(set(mine)), event.carrier, event.tracking_number, "waiting"
            waybills: dict[str, list[str]] = {}
            s.execute(update(sh).where(sh.c.platform == self.platform, sh.c.shop == event.shop,
                                       sh.c.external_order_id == event.external_order_id, sh.c.status == "waiting")
                      .values(status="combined", updated_at=_now()))
            for r in [*[e for e in earlier if e.status == "waiting"], event]:
                waybills.setdefault(r.carrier, []).append(r.tracking_number)
            return (sorted(set(line_ids)), "|".join(waybills), "|".join(",".join(w) for w in waybills.values()),
                    "pending")
        sent = {i for e in earlier for i in json.loads(e.line_ids)}
        fresh = sorted(set(mine) - sent)
        return fresh, event.carrier, event.tracking_number, "pending" if fresh else None

    def on_stock_changed(self, uow, event: StockChanged, envelope: Envelope) -> None:
        s, version = uow.session, envelope.sequence  # the sequence per SKU is the quantity's version
        a = store.available
        s.execute(dialect_insert(s, a).values(sku=event.sku, available=event.available, version=version)
                  .on_conflict_do_update(index_elements=["sku"], set_={"available": event.available, "version": version},
                                         where=a.c.version < version))
        avail = dict(s.execute(select(a.c.sku, a.c.available)).all())
        for outer, components in self.mappings(s).items():  # in this transaction (SQLite has one writer)
            if event.sku not in {c["sku"] for c in components}:
                continue
            sellable = min(avail.get(c["sku"], 0) // c["quantity"] for c in components)
            for shop in self.shops.values():
                quantity = math.floor(max(sellable - shop.safety_buffer, 0) * shop.stock_ratio)
                sp = store.stock_pushes
                s.execute(dialect_insert(s, sp).values(
                    platform=self.platform, shop=shop.shop, outer_sku=outer, quantity=quantity, version=version,
                    next_attempt_at=_now(), updated_at=_now())
                    .on_conflict_do_update(index_elements=["platform", "shop", "outer_sku"],
                                           set_={"quantity": quantity, "version": version, "attempts": 0,
                                                 "next_attempt_at": _now(), "updated_at": _now()},
                                           where=sp.c.version < version))

    def push_tick(self) -> int:
        """Send the shipments and the stock quantities still owed to the platform; a failure is kept
        with its error and tried again later (older stock quantities never overwrite newer ones)."""
        sent, now = 0, _now()
        sh, sp, m = store.shipments, store.stock_pushes, store.sku_mappings
        with self.db.reader() as s:
            due_shipments = s.execute(select(sh).where(sh.c.platform == self.platform, sh.c.status == "pending",
                                                       sh.c.next_attempt_at <= now).limit(SHIPMENTS_PER_ROUND)).all()
            due_stock = s.execute(select(sp, m.c.platform_ref).join(m, (m.c.platform == sp.c.platform) &
                                                                     (m.c.outer_sku == sp.c.outer_sku))
                                  .where(sp.c.platform == self.platform, sp.c.version > sp.c.pushed_version,
                                         sp.c.next_attempt_at <= now, m.c.platform_ref.is_not(None))
                                  .limit(STOCK_PER_ROUND)).all()
        self.more_to_push = len(due_shipments) >= SHIPMENTS_PER_ROUND or len(due_stock) >= STOCK_PER_ROUND
        shipments, quantities = [], []  # (row, what its send changes), recorded together after the round
        for row in due_shipments:
            try:
                self.client.confirm_shipment(self.shops[row.shop], row.external_order_id, row.carrier,
                                             row.tracking_number, json.loads(row.line_ids))
                shipments.append((row, {"status": "confirmed", "last_error": None}))
                sent += 1
            except PlatformError as exc:
                shipments.append((row, self._retry_later(row, exc, now)))
        by_shop: dict[str, list] = {}
        for row in due_stock:
            by_shop.setdefault(row.shop, []).append(row)
        for shop, rows in by_shop.items():  # together where the platform takes several in one call
            outcomes = self.client.push_stocks(self.shops[shop], [(r.platform_ref, int(r.quantity)) for r in rows])
            for row, exc in zip(rows, outcomes, strict=True):
                if exc is None:
                    quantities.append((row, {"pushed_version": row.version, "last_error": None, "attempts": 0}))
                    sent += 1
                else:
                    quantities.append((row, self._retry_later(row, exc, now)))
        # one transaction for the round: a crash before it sends the round again, which the platforms
        # take (a shipment sent twice is answered as already shipped; a quantity is absolute)
        if shipments or quantities:
            with self.db.session() as s:
                for row, values in shipments:
                    s.execute(update(sh).where(sh.c.platform == self.platform, sh.c.shop == row.shop,
                                               sh.c.external_order_id == row.external_order_id,
                                               sh.c.tracking_number == row.tracking_number)
                              .values(updated_at=now, **values))
                for row, values in quantities:  # only if no newer quantity arrived meanwhile
                    s.execute(update(sp).where(sp.c.platform == self.platform, sp.c.shop == row.shop,
                                               sp.c.outer_sku == row.outer_sku, sp.c.version == row.version)
                              .values(updated_at=now, **values))
        return sent

    @staticmethod
    def _retry_later(row, exc: PlatformError, now: datetime) -> dict:
        """A failed send's record: its error, and when it is tried again (backing off up to 5 minutes)."""
        return {"attempts": row.attempts + 1, "last_error": str(exc)[:500],
                "next_attempt_at": now + timedelta(seconds=min(2 ** row.attempts, 300))}

    def push_due_in(self) -> float | None:
        """Seconds until the next failed send may be tried again (0: now); None when none waits."""
        sh, sp, m = store.shipments, store.stock_pushes, store.sku_mappings
        with self.db.reader() as s:
            firsts = [s.execute(select(func.min(sh.c.next_attempt_at)).where(
                          sh.c.platform == self.platform, sh.c.status == "pending")).scalar(),
                      s.execute(select(func.min(sp.c.next_attempt_at)).join(
                          m, (m.c.platform == sp.c.platform) & (m.c.outer_sku == sp.c.outer_sku)).where(
                          sp.c.platform == self.platform, sp.c.version > sp.c.pushed_version,
                          m.c.platform_ref.is_not(None))).scalar()]
        due = [as_utc(t) for t in firsts if t is not None]
        return max(0.0, (min(due) - _now()).total_seconds()) if due else None

    def _push_round(self) -> float:
        """Send what is owed; seconds until the next round (never sooner than the gap, so a send
        that stays due cannot make the loop spin; at once when a round was full)."""
        self.push_tick()
        if self.more_to_push:
            return 0.0
        due = self.push_due_in()
        return max(PUSH_GAP_SECONDS, min(IDLE_LOOK_SECONDS, IDLE_LOOK_SECONDS if due is None else due))

    # -- the loop ------------------------------------------------------------
    def run(self, poll_seconds: float = 2.0) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        away = AwayBackoff()
        push_at = round_at = 0.0  # monotonic; a round on start
        while not self.stopping:
            try:
                next_at = min([push_at, *(self.next_pull.get(shop, 0.0) for shop in self.shops)])
                self.consumer.poll(max(0.0, min(next_at - time.monotonic(), POLL_MAX_SECONDS)))
                for shop in self.shops.values():
                    if time.monotonic() >= self.next_pull.get(shop.shop, 0) and not self.paused(shop):
                        stats = self.pull(shop)
                        # a full window, or one that ends before now (catching up), means more is
                        # waiting: come back at once
                        self.next_pull[shop.shop] = time.monotonic() + (
                            0 if stats.get("read", 0) >= 100 or stats.get("behind") else poll_seconds)
                if self.push_asked:
                    self.push_asked = False
                    push_at = min(push_at, round_at + PUSH_GAP_SECONDS)
                if time.monotonic() >= push_at:
                    round_at = time.monotonic()
                    push_at = round_at + self._push_round()
                self._run_calls()
                if self.redrive_requested:
                    self.redrive_requested = False
                    log.info("%s: re-drove %d held order(s)", self.platform, self.redrive())
                away.succeeded()
            except DATABASE_AWAY as exc:  # a restart: the watermark moves only after a window's orders
                time.sleep(away.failed(exc, f"{self.platform} connector"))  # are kept, so pull again later
        self.consumer.close()
        self.publisher.close()


STATE_SECONDS = 1.0  # the shops' state gauges read their few rows at most this often


def shop_gauges(db: Database, platform: str) -> list[GaugeMetricFamily]:
    """Each shop's state at scrape time, from its row: how far its watermark trails now (it grows while
    pulls fail or wait, which a value set after each good pull would not show) and whether it is in
    error (its last pull failed; `hub connectors status` shows the error)."""
    t = store.shops
    with db.reader() as s:
        rows = s.execute(select(t.c.shop, t.c.watermark, t.c.error_since).where(t.c.platform == platform)
                         .order_by(t.c.shop)).all()
    now, labels = _now(), ["platform", "shop"]
    lag = GaugeMetricFamily("hub_shop_ingest_lag_seconds", "How far the watermark (every change up to it is "
                            "published) trails now", labels=labels)
    failing = GaugeMetricFamily("hub_shop_in_error", "1 while the shop's pulls fail (since its error_since)",
                                labels=labels)
    for shop, watermark, error_since in rows:
        lag.add_metric([platform, shop], max(0.0, (now - as_utc(watermark)).total_seconds()))
        failing.add_metric([platform, shop], int(error_since is not None))
    return [lag, failing]


def order_intake(target: str, refresh_seconds: float) -> IntakeGate:
    """Whether the hub is behind, asked from the order service (hubkit.intake)."""
    import grpc

    from hubapi.order.v1 import order_service_pb2 as ordpb
    from hubapi.order.v1 import order_service_pb2_grpc as ordpb_grpc

    stub = ordpb_grpc.OrderServiceStub(grpc.insecure_channel(target))

    def ask() -> IntakeState:
        reply = stub.GetIntake(ordpb.GetIntakeRequest(), timeout=1.0)
        return IntakeState(reply.behind, reply.waiting, reply.oldest_seconds, reply.retry_after_seconds)
    return IntakeGate(ask, refresh_seconds)


def order_refunder(target: str) -> refunds.Refunder:
    """A platform's refund applied by the order service (RefundOrder by the order's channel ids), once
    per command id."""
    import grpc

    from hubapi.order.v1 import order_service_pb2 as ordpb
    from hubapi.order.v1 import order_service_pb2_grpc as ordpb_grpc
    from hubkit.commands import COMMAND_KEY
    from hubkit.grpc_server import ACTOR_KEY
    from hubkit.money import to_proto

    stub = ordpb_grpc.OrderServiceStub(grpc.insecure_channel(target))

    def apply(platform: str, shop: str, external_order_id: str, lines: list, reason: str,
              command: str) -> refunds.Applied:
        request = ordpb.RefundOrderRequest(
            channel=platform, shop=shop, external_order_id=external_order_id, reason=reason, channel_refund=True,
            lines=[ordpb.RefundLineInput(line_no=n, amount=to_proto(a)) for n, a in lines])
        try:
            reply = stub.RefundOrder(request, timeout=10.0, metadata=(
                (COMMAND_KEY, command), (ACTOR_KEY, f"connector:{platform}")))
        except grpc.RpcError as exc:
            code, detail = exc.code(), exc.details() or str(exc.code())
            if code == grpc.StatusCode.FAILED_PRECONDITION:  # the line was given back already, or the
                return refunds.Applied("superseded", detail)  # order cancelled: nothing more to give back
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                return refunds.Applied("refused", detail)
            return refunds.Applied("retry", detail)  # not in the hub yet, or the order service away
        return refunds.Applied("applied", kind=reply.kind, hub_refund_id=reply.refund_id)
    return apply


def order_returner(target: str) -> refunds.Returner:
    """A platform's refund with goods back made a return document by the order service (CreateRma by the
    order's channel ids), the same RMA again for the same external id, once per command id."""
    import grpc

    from hubapi.order.v1 import order_service_pb2 as ordpb
    from hubapi.order.v1 import order_service_pb2_grpc as ordpb_grpc
    from hubkit.commands import COMMAND_KEY
    from hubkit.grpc_server import ACTOR_KEY

    stub = ordpb_grpc.OrderServiceStub(grpc.insecure_channel(target))

    def create(platform: str, shop: str, external_order_id: str, lines: list, reason: str, external_id: str,
               command: str) -> refunds.Applied:
        request = ordpb.CreateRmaRequest(
            channel=platform, shop=shop, external_order_id=external_order_id, kind="return", reason=reason,
            external_id=external_id, lines=[ordpb.RmaLineInput(line_no=n, quantity=q) for n, q in lines])
        try:
            reply = stub.CreateRma(request, timeout=10.0, metadata=(
                (COMMAND_KEY, command), (ACTOR_KEY, f"connector:{platform}")))
        except grpc.RpcError as exc:
            code, detail = exc.code(), exc.details() or str(exc.code())
            if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT):
                return refunds.Applied("refused", detail)  # e.g. not shipped, nothing left to come back
            return refunds.Applied("retry", detail)  # not in the hub yet, or the order service away
        return refunds.Applied("applied", kind="rma", hub_refund_id=reply.rma.id)
    return create


def main(platform: str, settings) -> None:
    """Run the connector of one platform, with the shop connectors' settings (connectors.shops.config)."""
    from connectors.shops import config as shop_config
    from connectors.shops.grpc_api import ShopServicer
    from connectors.shops.jd import JdClient
    from connectors.shops.taobao import TaobaoClient
    from hubapi.shops.v1 import shop_service_pb2_grpc as pb_grpc
    from hubkit import grpc_server, metrics
    from hubkit import logging as hublog

    hublog.setup(f"shops-{platform}", settings.log_level)
    configs = shop_config.load(settings.shops_file or None)
    if platform not in configs:
        raise SystemExit(f"HUB_SHOPS_FILE has no {platform} section")
    cfg, shops, skus = configs[platform]
    db = Database(settings.shops_db_url, store.metadata, prepare=settings.db_prepared_statements)
    client = {"taobao": TaobaoClient, "jd": JdClient}[platform](cfg, TokenStore(db))
    connector = ShopConnector(settings, platform, client, shops, skus, db,
                              intake=order_intake(settings.order_grpc_target, settings.intake_refresh_seconds),
                              refunder=order_refunder(settings.order_grpc_target),
                              returner=order_returner(settings.order_grpc_target))
    REGISTRY.register(metrics.Snapshot(lambda: shop_gauges(db, platform), STATE_SECONDS))
    metrics.serve(settings.metrics_port, Health(settings.liveness_grace_seconds, connector.consumer.beat))
    server, _health = grpc_server.start(f"shops-{platform}", settings.shops_grpc_ports[platform],
                                        lambda srv: pb_grpc.add_ShopConnectorServiceServicer_to_server(
                                            ShopServicer(connector), srv))
    heap.started()
    try:
        connector.run(settings.shops_poll_seconds)
    finally:
        server.stop(grace=3).wait()
