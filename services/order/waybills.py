"""Electronic waybills exactly once: every parcel holds one carrier number, never two.

The parcel's row (models.waybills) is written under a stable key before the carrier is first asked,
and its state after every answer:

  requesting --get call goes out--> uncertain --number--> issued   (never asked for again)
       ^                               |   \\--certainly nothing (rate limit...)--> requesting
       |                               \\--no answer (timeout, 5xx)--> stays uncertain: before the next
       |                                  get call, the carrier is asked for the order's numbers and the
       \\----- the look-up finds none -----/  one issued under this parcel key is taken if it is there

A process that dies with a call in flight leaves `uncertain`, which is resolved the same way. One caller
works on a parcel at a time (claimed_until); another gets a 409 and asks again. The carrier does not
de-duplicate (simulators/cainiao), so this look-up is what keeps a second number from being taken.
The shipment (handlers.ship_order) then carries the issued number to the platform."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta

from prometheus_client import Counter
from sqlalchemy import or_, select, update

from hubkit import clock
from hubkit.db import Database, dialect_insert
from hubkit.errors import Conflict, InvalidArgument, NotFound, Unavailable
from services.order import domain
from services.order.carrier import Ambiguous, CainiaoClient, CarrierConfig, NotIssued, Refused, Waybill
from services.order.models import order_parcels, orders, waybills

log = logging.getLogger(__name__)

REQUESTING, UNCERTAIN, ISSUED = "requesting", "uncertain", "issued"
CANCELLED = "cancelled"  # cancelled at the carrier before the parcel shipped (never asked for again)
ROUNDS = 8  # get calls or look-ups per request before the caller is told to ask again (503)
BUDGET_SECONDS = 8.0  # and no round starts that could end later than this (the gateway waits 10 s)
DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.0)  # seconds between rounds, by round
CALLS = Counter("hub_waybill_calls_total", "Carrier calls for waybills, by call and outcome", ["call", "outcome"])


MAX_PARCELS = 99


def parcel_key(order_id: str, parcel: int = 1) -> str:
    """The stable key of an order's parcel: the carrier's object_id, the same on every retry."""
    return f"{order_id}-P{parcel}"


def view(row) -> dict:
    return {"order_id": row.order_id, "parcel_key": row.parcel_key, "carrier": row.carrier, "status": row.status,
            "tracking_number": row.tracking_number or "", "get_calls": row.get_calls, "lookups": row.lookups,
            "last_error": row.last_error or ""}


def issued_for(session, order_id: str):
    """The order's issued waybill row, or None."""
    return session.execute(select(waybills).where(waybills.c.order_id == order_id,
                                                  waybills.c.status == ISSUED)).first()


def recipient_of(order) -> dict:
    address, buyer = json.loads(order.shipping_address), json.loads(order.buyer)
    return {"name": address.get("recipient") or buyer.get("name") or "-",
            "mobile": address.get("phone") or buyer.get("phone") or "",
            "address": {"province": address.get("province") or "", "city": address.get("city") or "",
                        "district": address.get("district") or "", "detail": address.get("street") or ""}}


class WaybillIssuer:
    def __init__(self, db: Database, client: CainiaoClient, lease_seconds: float | None = None,
                 sleep: Callable[[float], None] = time.sleep, rounds: int = ROUNDS,
                 budget_seconds: float = BUDGET_SECONDS):
        self.db, self.client, self.sleep, self.rounds = db, client, sleep, rounds
        self.budget = budget_seconds
        # a claim outlives the longest request: every round a full timeout and its delay
        self.lease = timedelta(seconds=lease_seconds or rounds * (client.config.timeout_seconds + 1) + 5)

    def request(self, order_id: str, actor: str, parcel: int = 1) -> dict:
        """The waybill of the order's parcel (1: the first; an order shipped in parcels, services.order.parcels,
        takes one per parcel): the one already issued, or a number taken now, exactly once. Conflict for an
        order shipped or cancelled without one, or while another request for it runs; Unavailable when the
        carrier gave no certain answer in time (asking again is safe)."""
        if not 1 <= parcel <= MAX_PARCELS:
            raise InvalidArgument("the parcel is invalid", [{"field": "parcel", "message": f"from 1 to {MAX_PARCELS}"}])
        key = parcel_key(order_id, parcel)
        row, order = self._claim(order_id, key, actor)
        if row.status == ISSUED:
            return view(row)
        status, deadline = row.status, time.monotonic() + self.budget
        try:
            for n in range(self.rounds):
                if n:
                    delay = DELAYS[min(n - 1, len(DELAYS) - 1)]
                    if time.monotonic() + delay + self.client.config.timeout_seconds > deadline:
                        break
                    self.sleep(delay)
                if status == UNCERTAIN:
                    found = self._look_up(order_id, key)
                    if found is None:  # the look-up itself failed: still uncertain
                        continue
                    if found:
                        return self._issued(key, found[0])
                    status = self._set(key, status=REQUESTING)
                self._set(key, status=UNCERTAIN, get_calls=waybills.c.get_calls + 1)  # before the call goes out
                status = UNCERTAIN
                try:
                    waybill = self.client.get_waybill(key, order_id, recipient_of(order))
                except NotIssued as exc:
                    CALLS.labels("get", "not_issued").inc()
                    status = self._set(key, status=REQUESTING, last_error=str(exc)[:500])
                    continue
                except Ambiguous as exc:
                    CALLS.labels("get", "ambiguous").inc()
                    self._set(key, last_error=str(exc)[:500])
                    continue
                except Refused as exc:
                    CALLS.labels("get", "refused").inc()
                    self._set(key, status=REQUESTING, last_error=str(exc)[:500])
                    raise Conflict(f"the carrier refused a waybill for order {order_id}: {exc}") from exc
                CALLS.labels("get", "issued").inc()
                return self._issued(key, waybill)
            raise Unavailable(f"the carrier gave no certain answer for order {order_id}'s waybill in time; ask "
                              "again (the hub looks it up first, no second number)")
        finally:
            with self.db.session() as s:
                s.execute(update(waybills).where(waybills.c.parcel_key == key).values(claimed_until=None))

    def cancel(self, order_id: str, actor: str, parcel: int = 1) -> dict:
        """Cancel the issued waybill of the order's parcel at the carrier, before the parcel ships
        (cainiao.waybill.ii.cancel); idempotent: a cancelled one answers as it is. NotFound without a
        waybill; Conflict when no number was issued yet, the parcel shipped with it, another call works on
        it, or the carrier refused; Unavailable when the carrier gave no certain answer (ask again). The
        row is claimed meanwhile, so a shipment does not take the number being cancelled."""
        if not 1 <= parcel <= MAX_PARCELS:
            raise InvalidArgument("the parcel is invalid", [{"field": "parcel", "message": f"from 1 to {MAX_PARCELS}"}])
        key, now = parcel_key(order_id, parcel), clock.now()
        with self.db.session() as s:
            row = s.execute(select(waybills).where(waybills.c.parcel_key == key)).first()
            if row is None:
                raise NotFound(f"parcel {parcel} of order {order_id} has no waybill")
            if row.status == CANCELLED:
                return view(row)
            if row.status != ISSUED:
                raise Conflict(f"no number is issued for {key} yet ({row.status}): there is nothing to cancel")
            shipped = s.execute(select(order_parcels.c.parcel_no).where(
                order_parcels.c.order_id == order_id, order_parcels.c.tracking_number == row.tracking_number)).first() \
                or s.execute(select(orders.c.id).where(orders.c.id == order_id, orders.c.shipped_at.is_not(None),
                                                       orders.c.tracking_number == row.tracking_number)).first()
            if shipped:
                raise Conflict(f"the waybill {row.tracking_number} of {key} has shipped; it cannot be cancelled")
            claimed = s.execute(update(waybills).where(
                waybills.c.parcel_key == key, waybills.c.status == ISSUED,
                or_(waybills.c.claimed_until.is_(None), waybills.c.claimed_until < now))
                .values(claimed_until=now + self.lease, updated_at=now)).rowcount
            if not claimed:
                raise Conflict(f"the waybill of {key} is being worked on right now; ask again shortly")
        try:
            self.client.cancel_waybill(row.carrier, row.tracking_number)
            CALLS.labels("cancel", "cancelled").inc()
        except Refused as exc:
            CALLS.labels("cancel", "refused").inc()
            self._release(key)
            raise Conflict(f"the carrier refused to cancel {row.tracking_number}: {exc}") from exc
        except (Ambiguous, NotIssued) as exc:
            CALLS.labels("cancel", "no_answer").inc()
            self._release(key)
            raise Unavailable(f"the carrier gave no certain answer to the cancel of {row.tracking_number}; "
                              "ask again") from exc
        with self.db.session() as s:
            s.execute(update(waybills).where(waybills.c.parcel_key == key).values(
                status=CANCELLED, claimed_until=None, last_error=f"cancelled by {actor}"[:500], updated_at=clock.now()))
            return view(s.execute(select(waybills).where(waybills.c.parcel_key == key)).first())

    def _release(self, key: str) -> None:
        with self.db.session() as s:
            s.execute(update(waybills).where(waybills.c.parcel_key == key).values(claimed_until=None))

    def _claim(self, order_id: str, key: str, actor: str):
        now = clock.now()
        with self.db.session() as s:
            order = s.execute(select(orders.c.id, orders.c.status, orders.c.buyer, orders.c.shipping_address)
                              .where(orders.c.id == order_id)).first()
            if order is None:
                raise NotFound(f"order {order_id} not found")
            existing = s.execute(select(waybills).where(waybills.c.parcel_key == key,
                                                        waybills.c.status == ISSUED)).first()
            if existing is not None:
                return existing, order
            if order.status not in (*domain.OPEN, domain.PARTLY_SHIPPED):
                raise Conflict(f"order {order_id} is {order.status}; a waybill is taken before it ships")
            s.execute(dialect_insert(s, waybills).values(
                parcel_key=key, order_id=order_id, carrier=self.client.config.cp_code, status=REQUESTING,
                requested_by=actor, created_at=now, updated_at=now).on_conflict_do_nothing())
            claimed = s.execute(update(waybills).where(
                waybills.c.parcel_key == key, waybills.c.status.notin_((ISSUED, CANCELLED)),
                or_(waybills.c.claimed_until.is_(None), waybills.c.claimed_until < now))
                .values(claimed_until=now + self.lease, updated_at=now)).rowcount
            row = s.execute(select(waybills).where(waybills.c.parcel_key == key)).first()
            if row.status == ISSUED:
                return row, order
            if row.status == CANCELLED:
                raise Conflict(f"the waybill {row.tracking_number} of {key} was cancelled; this parcel ships with a "
                               "carrier and tracking number given, or take the next parcel's waybill")
            if not claimed:
                raise Conflict(f"a waybill for order {order_id} is being requested right now; ask again shortly")
            return row, order

    def _look_up(self, order_id: str, key: str) -> list[Waybill] | None:
        """The numbers issued under this parcel key (None: the look-up got no certain answer)."""
        self._set(key, lookups=waybills.c.lookups + 1)
        try:
            found = self.client.find_waybills(order_id)
        except (NotIssued, Ambiguous, Refused) as exc:
            CALLS.labels("lookup", "failed").inc()
            self._set(key, last_error=f"look-up: {exc}"[:500])
            return None
        mine = [w for w in found if w.object_id == key]
        CALLS.labels("lookup", "found" if mine else "none").inc()
        if len(mine) > 1:  # issued twice before this hub held it: keep the first, a person cancels the rest
            log.error("carrier holds %d waybills for parcel %s: %s; the hub keeps %s", len(mine), key,
                      [w.waybill_code for w in mine], mine[0].waybill_code)
        return mine

    def _issued(self, key: str, waybill: Waybill) -> dict:
        with self.db.session() as s:
            s.execute(update(waybills).where(waybills.c.parcel_key == key, waybills.c.status != ISSUED).values(
                status=ISSUED, tracking_number=waybill.waybill_code, carrier=waybill.cp_code or waybills.c.carrier,
                last_error=None, updated_at=clock.now()))
            return view(s.execute(select(waybills).where(waybills.c.parcel_key == key)).first())

    def _set(self, key: str, **values) -> str | None:
        with self.db.session() as s:
            s.execute(update(waybills).where(waybills.c.parcel_key == key, waybills.c.status != ISSUED)
                      .values(updated_at=clock.now(), **values))
        return values.get("status")


def waybill_of(db: Database, order_id: str) -> dict:
    """The order's waybill as the hub holds it (any status); NotFound when none was requested."""
    with db.reader() as s:
        row = s.execute(select(waybills).where(waybills.c.order_id == order_id)
                        .order_by(waybills.c.parcel_key)).first()
    if row is None:
        raise NotFound(f"no waybill was requested for order {order_id}")
    return view(row)


def issuer_from(settings, db: Database) -> WaybillIssuer | None:
    """The issuer for the configured carrier (HUB_CARRIER_*), or None when HUB_CARRIER_URL is empty."""
    if not settings.carrier_url:
        return None
    return WaybillIssuer(db, CainiaoClient(CarrierConfig(
        base_url=settings.carrier_url, app_key=settings.carrier_app_key, app_secret=settings.carrier_app_secret,
        session=settings.carrier_session, cp_code=settings.carrier_code, sender=settings.carrier_sender,
        timeout_seconds=settings.carrier_timeout_seconds)))
