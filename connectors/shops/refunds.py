"""Refunds pulled from the platforms, applied to the hub exactly once per platform refund id.

A refund is recorded (keyed by platform, shop and refund id) when a pull window reads it, and moves on
only to a newer version of itself: seen twice (the overlap, a repeated page, a connector restarted), it
changes nothing. Once the platform says SUCCESS it is applied through the order service's refund
(RefundOrder, by the order's channel ids, `channel_refund`): before shipment the line is intercepted
(never shipped, its reservation released), after shipment a refund without goods back posts its credit
(sales_refund). The call carries the command id `refund:<platform>:<shop>:<refund id>`, so a call whose
answer was lost and is made again is applied once (hubkit.commands). A refund that never succeeds
(CLOSED) is never applied.

A refund with goods sent back (退货退款: Taobao `has_good_return`, the JD simulator's `hasGoodsReturn`)
becomes a return document in the hub once it succeeds (CreateRma by the order's channel ids, kind
return, `external_id` = `<platform>.<shop>.<refund id>`, so asking again is that RMA; command id
`rma:<platform>:<shop>:<refund id>`), applied with kind `rma` and the RMA's id; the warehouse then
receives, inspects and settles it as an operator's RMA (settling posts the refund of those units). Only
SUCCESS: before it the platform may still refuse or close the refund, and an RMA settles money. The
platforms say no returned quantity: the whole platform line comes back when the refunded amount equals
what was paid for the line's goods (or for the line with its share of shipping); any other amount is
held (reason refund_with_return) for a person, who records the RMA by hand. So is a refund-with-return
of an order published before the hub kept its line quantities.

A refund (or RMA) the order service refuses is held as an exception (`hub connectors exceptions`,
reason refund_refused, with the order service's message), and so is one that cannot be read
(refund_missing_field), rather than failing every pull of its shop. An order not in the hub yet, or an
order service away, is tried again with a back-off."""
from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from prometheus_client import Counter
from sqlalchemy import select, update

from connectors.shops import store
from connectors.shops.allocate import allocate
from connectors.shops.core import PlatformRefund
from hubkit.db import Database, dialect_insert

log = logging.getLogger(__name__)

REFUNDS_PULLED = Counter("hub_shop_refunds_pulled_total", "Refund versions read from the platform", ["platform"])
REFUNDS_APPLIED = Counter("hub_shop_refunds_applied_total", "Platform refunds applied to the hub, by kind",
                          ["platform", "kind"])
REFUNDS_PER_ROUND = 50
MAX_BACKOFF_SECONDS = 300
OUTCOME = {"waiting": "waiting", "success": "pending", "closed": "closed", "broken": "held"}
FINAL = ("applied", "superseded", "held")  # a later version of the refund changes nothing of these
RMA_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")  # the order service's external id


@dataclass(frozen=True)
class Applied:
    """What the order service answered a refund: applied (kind, hub refund id), not there yet (retry),
    refused for good (held, with why), or the line given back already (superseded)."""
    outcome: str  # applied | retry | refused | superseded
    detail: str = ""
    kind: str = ""
    hub_refund_id: str = ""


# (platform, shop, external order id, [(hub line no, amount)], reason, command id) -> Applied
Refunder = Callable[[str, str, str, list, str, str], Applied]
# (platform, shop, external order id, [(hub line no, quantity)], reason, external id, command id) -> Applied
Returner = Callable[[str, str, str, list, str, str, str], Applied]


def _now():
    return datetime.now(timezone.utc)


def record(db: Database, refund: PlatformRefund) -> str:
    """Keep one refund version; returns "new", "newer" or "duplicate" (an older or the same version)."""
    REFUNDS_PULLED.labels(refund.platform).inc()
    r = store.refunds
    key = (r.c.platform == refund.platform) & (r.c.shop == refund.shop) & (r.c.refund_id == refund.refund_id)
    now = _now()
    with db.session() as s:
        row = s.execute(select(r.c.version, r.c.outcome).where(key)).first()
        # a version is a time in whole seconds (Taobao's `modified`): a refund settled in the second it was
        # last read has the same version, and only its status says it moved on (an end never goes back)
        settled_in_the_same_second = row is not None and refund.version == row.version and \
            row.outcome == "waiting" and refund.status in ("success", "closed")
        if row is not None and refund.version <= row.version and not settled_in_the_same_second:
            return "duplicate"
        facts = {"external_order_id": refund.external_order_id, "line_id": refund.line_id,
                 "amount": str(refund.amount), "goods_return": refund.goods_return,
                 "platform_status": refund.platform_status[:32], "version": refund.version, "updated_at": now}
        if row is None:
            s.execute(dialect_insert(s, r).values(platform=refund.platform, shop=refund.shop,
                                                  refund_id=refund.refund_id, outcome=OUTCOME[refund.status],
                                                  next_attempt_at=now, **facts).on_conflict_do_nothing())
            if refund.status == "broken":
                _hold_row(s, refund.platform, refund.shop, refund.refund_id, refund.version, "refund_missing_field",
                          f"the refund has {refund.platform_status}", json.dumps(refund.raw, ensure_ascii=False,
                                                                                default=str))
            return "new"
        if refund.status == "broken":  # a later unreadable copy of a refund kept already changes nothing
            return "duplicate"
        values = dict(facts)
        if row.outcome not in FINAL:  # once applied (or held) it stays so; a CLOSED later is only noted
            values.update(outcome=OUTCOME[refund.status], next_attempt_at=now)
        s.execute(update(r).where(key, r.c.version == row.version).values(**values))
        return "newer"


def hub_lines(db: Database, platform: str, shop: str, external_order_id: str, line_id: str,
              amount: Decimal) -> list[tuple[int, Decimal]] | None:
    """The hub lines of a platform line, with the refunded amount split over them in proportion to
    what was paid for each (a combination is several hub lines); None while the order is unpublished."""
    p = store.published
    with db.reader() as s:
        row = s.execute(select(p.c.line_ids, p.c.line_amounts).where(
            p.c.platform == platform, p.c.shop == shop, p.c.external_order_id == external_order_id)).first()
    if row is None:
        return None
    ids, paid = json.loads(row.line_ids), json.loads(row.line_amounts or "[]")
    numbers = [n for n, lid in enumerate(ids, start=1) if lid == line_id]
    if not numbers:
        return []
    weights = [Decimal(paid[n - 1]) if len(paid) == len(ids) else Decimal(1) for n in numbers]
    return list(zip(numbers, allocate(weights, amount)))


def returned_lines(db: Database, platform: str, shop: str, external_order_id: str, line_id: str,
                   amount: Decimal) -> list[tuple[int, int]] | str | None:
    """The hub lines (number, quantity) a refund with goods back returns: the whole platform line when
    the amount is what was paid for its goods (or for it with its shipping); else why not (a str).
    None while the order is unpublished."""
    p = store.published
    with db.reader() as s:
        row = s.execute(select(p.c.line_ids, p.c.line_amounts, p.c.line_quantities, p.c.line_goods).where(
            p.c.platform == platform, p.c.shop == shop, p.c.external_order_id == external_order_id)).first()
    if row is None:
        return None
    ids = json.loads(row.line_ids)
    paid, quantities, goods = (json.loads(x or "[]") for x in (row.line_amounts, row.line_quantities, row.line_goods))
    numbers = [n for n, lid in enumerate(ids, start=1) if lid == line_id]
    if not numbers:
        return f"order {external_order_id} has no line {line_id}"
    if not len(paid) == len(quantities) == len(goods) == len(ids):
        return ("the order was published before the hub kept its line quantities: "
                "record the return by hand (POST /rmas)")
    whole = {sum((Decimal(kept[n - 1]) for n in numbers), Decimal(0)) for kept in (paid, goods)}
    if amount not in whole:
        return (f"the platform gives back {amount} of the line's {' or '.join(str(w) for w in sorted(whole))} "
                "and says no quantity: record the return by hand (POST /rmas)")
    return [(n, int(quantities[n - 1])) for n in numbers]


def rma_external_id(platform: str, shop: str, refund_id: str) -> str:
    """The RMA's stable id for a platform refund: readable when it fits the order service's code, else a
    digest of the same three (the same refund, the same id)."""
    text = f"{platform}.{shop}.{refund_id}"
    if len(text) <= 64 and RMA_CODE.match(text):
        return text
    return f"{platform[:8]}-{hashlib.sha256(text.encode()).hexdigest()[:48]}"


def apply_due(db: Database, platform: str, shops: set[str], refunder: Refunder,
              returner: Returner | None = None) -> dict:
    """Apply the succeeded refunds not yet applied (their back-off over); what happened to each."""
    r, now = store.refunds, _now()
    with db.reader() as s:
        due = s.execute(select(r).where(r.c.platform == platform, r.c.outcome == "pending", r.c.shop.in_(shops),
                                        r.c.next_attempt_at <= now).limit(REFUNDS_PER_ROUND)).all()
    stats = {"applied": 0, "retry": 0, "held": 0, "superseded": 0}
    for row in due:
        values: dict = {"updated_at": _now()}
        if row.goods_return:
            result, reason = _return(db, platform, row, returner)
        else:
            reason = "refund_refused"
            lines = hub_lines(db, platform, row.shop, row.external_order_id, row.line_id, Decimal(row.amount))
            if lines is None:
                result = Applied("retry", f"order {row.external_order_id} is not in the hub yet")
            elif not lines:
                result = Applied("refused", f"order {row.external_order_id} has no line {row.line_id}")
            else:
                result = refunder(platform, row.shop, row.external_order_id, lines,
                                  f"refunded on the platform ({row.refund_id})",
                                  f"refund:{platform}:{row.shop}:{row.refund_id}")
        if result.outcome == "applied":
            values.update(outcome="applied", kind=result.kind, hub_refund_id=result.hub_refund_id, last_error=None)
            REFUNDS_APPLIED.labels(platform, result.kind).inc()
            stats["applied"] += 1
        elif result.outcome == "superseded":
            values.update(outcome="superseded", last_error=result.detail[:500])
            stats["superseded"] += 1
        elif result.outcome == "retry":
            values.update(attempts=row.attempts + 1, last_error=result.detail[:500],
                          next_attempt_at=_now() + timedelta(seconds=min(2 ** row.attempts, MAX_BACKOFF_SECONDS)))
            stats["retry"] += 1
        else:
            values.update(outcome="held", last_error=result.detail[:500])
            _hold(db, row, reason, result.detail)
            stats["held"] += 1
        with db.session() as s:
            s.execute(update(r).where(r.c.platform == platform, r.c.shop == row.shop, r.c.refund_id == row.refund_id,
                                      r.c.outcome == "pending").values(**values))
    return stats


def _return(db: Database, platform: str, row, returner: Returner | None) -> tuple[Applied, str]:
    """A refund with goods back as an RMA of its lines; (what happened, the reason were it held)."""
    if returner is None:
        return Applied("refused", "the buyer sends goods back: record the return when they arrive "
                                  "(POST /rmas)"), "refund_with_return"
    lines = returned_lines(db, platform, row.shop, row.external_order_id, row.line_id, Decimal(row.amount))
    if lines is None:
        return Applied("retry", f"order {row.external_order_id} is not in the hub yet"), "refund_refused"
    if isinstance(lines, str):
        return Applied("refused", lines), "refund_with_return"
    result = returner(platform, row.shop, row.external_order_id, lines,
                      f"returned on the platform ({row.refund_id})", rma_external_id(platform, row.shop, row.refund_id),
                      f"rma:{platform}:{row.shop}:{row.refund_id}")
    if result.outcome == "superseded":  # nothing of the line left to come back: a person looks
        result = Applied("refused", result.detail)
    return result, "refund_refused"


def exception_key(refund_id: str) -> str:
    """How a held refund is named in the exception list (beside the held orders, by order id)."""
    return f"refund:{refund_id}"


def _hold(db: Database, row, reason: str, detail: str) -> None:
    log.warning("%s %s: refund %s of order %s held: %s", row.platform, row.shop, row.refund_id,
                row.external_order_id, detail)
    payload = json.dumps({"refund_id": row.refund_id, "external_order_id": row.external_order_id,
                          "line_id": row.line_id, "amount": row.amount, "goods_return": row.goods_return,
                          "platform_status": row.platform_status}, ensure_ascii=False)
    text = f"order {row.external_order_id} line {row.line_id} {row.amount}: {detail}"
    with db.session() as s:
        _hold_row(s, row.platform, row.shop, row.refund_id, row.version, reason, text, payload)


def _hold_row(s, platform: str, shop: str, refund_id: str, version: int, reason: str, detail: str,
              payload: str) -> None:
    s.execute(dialect_insert(s, store.exceptions).values(
        platform=platform, shop=shop, external_order_id=exception_key(refund_id)[:64], reason=reason,
        detail=detail[:500], version=version, payload=payload, status="open", created_at=_now())
        .on_conflict_do_nothing())


# held refunds: re-driving them is not an order's
REFUND_REASONS = ("refund_with_return", "refund_refused", "refund_missing_field")
