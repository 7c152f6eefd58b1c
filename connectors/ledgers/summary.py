"""Summary vouchers (汇总凭证): in summary mode (HUB_<LEDGER>_SUMMARY=daily) a ledger receives one
voucher per business day, channel and kind, summing the hub's vouchers; the hub keeps every
document's voucher, and each names the summary voucher it went into (reconciliation reads both).

When a day is summed, and the rule that keeps it exactly once:

- A hub voucher waits until its business day is over in the merchant's time zone (HUB_TIMEZONE)
  plus a grace period (HUB_<LEDGER>_SUMMARY_GRACE_MINUTES), so that what was posted late that
  night is still in the day's first summary voucher.
- Composing is one transaction: the summary voucher (its summed lines frozen as it will be sent,
  and its push row) is written together with the mark on each hub voucher it sums. A hub voucher is
  summed only while unmarked, so it is in exactly one summary voucher; the summary voucher is then
  pushed like any voucher (stable external number, push state, look-up after no answer).
- A voucher arriving for a day already summed (a late return, a correction dated back) goes into a
  supplementary summary voucher of that day at the next composing round: the same name with the
  next sequence, e.g. HUB-S-20261121-taobao-sale-02. A summary voucher once composed never changes.
"""
from __future__ import annotations

import json
import logging
import re
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select, update

from connectors.ledgers import store
from hubkit import clock
from hubkit.db import Database, dialect_insert

log = logging.getLogger(__name__)

COMPOSE_EVERY = timedelta(seconds=30)  # how often due days are looked for
NO_CHANNEL = "hub"  # vouchers of no sales channel (purchases, adjustments)


def _word(text: str, most: int) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)[:most] or "x"


def channel_of(voucher: dict) -> str:
    """The sales channel a voucher belongs to: its channel cost centre, else its platform or
    customer counterparty (channel:taobao, platform:taobao/shop, customer:taobao:buyer)."""
    for line in voucher["lines"]:
        kind, _, rest = line.get("cost_centre", "").partition(":")
        if kind == "channel" and rest:
            return _word(rest, 10)
    for line in voucher["lines"]:
        kind, _, rest = line.get("aux", "").partition(":")
        if kind in ("platform", "customer") and rest:
            return _word(re.split(r"[/:]", rest)[0], 10)
    return NO_CHANNEL


def group_of(voucher: dict) -> tuple[str, str, str]:
    """(business day, channel, kind): the hub vouchers one summary voucher sums."""
    return voucher["business_date"], channel_of(voucher), _word(voucher["kind"], 10)


def external_number(day: str, channel: str, kind: str, seq: int) -> str:
    """Stable per summary voucher: HUB-S-<yyyymmdd>-<channel>-<kind>-<seq>, seq 01 the day's first."""
    return f"HUB-S-{day.replace('-', '')}-{channel}-{kind}-{seq:02d}"


def grace_of(config) -> timedelta | None:
    """A ledger's grace period in summary mode; None for a ledger that takes every voucher as it is."""
    return timedelta(minutes=config.summary_grace_minutes) if config.summary == "daily" else None


def due_at(day: str, grace: timedelta) -> datetime:
    """When a business day's vouchers are summed: its end in the merchant's time zone, plus grace."""
    end = datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(), tzinfo=clock.zone())
    return (end + grace).astimezone(timezone.utc)  # instants are stored in UTC


def compose(vouchers: list[dict], number: str) -> dict:
    """The summary voucher of `vouchers` (one group): per account, counterparty, cost centre and
    side, the sum of their lines; debits and credits are never netted, so every account's totals
    are the same in the ledger as in the hub's detail."""
    first = vouchers[0]
    day, channel, kind = group_of(first)
    text = f"{kind} {channel} {day}: {len(vouchers)} vouchers"
    sums: dict[tuple, Decimal] = {}
    for v in vouchers:
        for line in v["lines"]:
            for side in ("debit", "credit"):
                if Decimal(line[side]):
                    key = (line["account"], line.get("aux", ""), line.get("cost_centre", ""), side)
                    sums[key] = sums.get(key, Decimal("0")) + Decimal(line[side])
    lines = [{"line_no": i, "account": account, "summary": text, "aux": aux, "cost_centre": centre,
              "debit": str(total if side == "debit" else Decimal("0.00")),
              "credit": str(total if side == "credit" else Decimal("0.00"))}
             for i, ((account, aux, centre, side), total) in enumerate(
                 ((key, total) for key, total in sorted(sums.items()) if total), start=1)]
    return {"id": number, "number": number, "external_number": number, "period": first["period"],
            "business_date": day, "kind": first["kind"], "voucher_type": first["voucher_type"], "lines": lines}


def summariser(ledger: str, db: Database, grace: timedelta | None) -> Summariser | None:
    return None if grace is None else Summariser(ledger, db, grace)


class Summariser:
    """Composes one ledger's due summary vouchers (see the module's rule)."""

    def __init__(self, ledger: str, db: Database, grace: timedelta):
        self.ledger, self.db, self.grace = ledger, db, grace
        self.last_round: datetime | None = None

    def compose_due(self, force: bool = False) -> int:
        """Sums every hub voucher whose day is due into summary vouchers (at most every
        COMPOSE_EVERY unless forced); returns how many summary vouchers were composed."""
        now = clock.now()
        if not force and self.last_round and now - self.last_round < COMPOSE_EVERY:
            return 0
        self.last_round = now
        p, v = store.pushes, store.vouchers
        with self.db.session() as s:
            waiting = s.execute(select(p.c.voucher_id, v.c.body).join(v, v.c.voucher_id == p.c.voucher_id)
                                .where(p.c.ledger == self.ledger, ~p.c.is_summary, p.c.summary_id.is_(None),
                                       p.c.status == store.PENDING, p.c.next_attempt_at <= now)).all()
            groups: dict[tuple[str, str, str], list] = {}
            for voucher_id, body in waiting:
                voucher = json.loads(body)
                wait_until = due_at(voucher["business_date"], self.grace)
                if wait_until > now:  # its day is not over (kept from before summary mode was on)
                    s.execute(update(p).where(p.c.ledger == self.ledger, p.c.voucher_id == voucher_id)
                              .values(next_attempt_at=wait_until))
                    continue
                groups.setdefault(group_of(voucher), []).append((voucher_id, voucher))
            for group, members in sorted(groups.items()):
                self._write(s, group, members, now)
        return len(groups)

    def _write(self, s, group: tuple[str, str, str], members: list, now: datetime) -> None:
        p, v = store.pushes, store.vouchers
        day, channel, kind = group
        prefix = external_number(day, channel, kind, 0)[:-2]
        taken = s.execute(select(p.c.external_number).where(p.c.ledger == self.ledger, p.c.is_summary,
                                                            p.c.external_number.like(f"{prefix}%"))).scalars().all()
        number = external_number(day, channel, kind, 1 + max((int(n[len(prefix):]) for n in taken), default=0))
        summary_id = f"{self.ledger}:{number}"  # one path segment in the gateway's retry URL
        body = compose([voucher for _, voucher in members], number)
        s.execute(dialect_insert(s, v).values(voucher_id=summary_id, number=number, period=body["period"],
                                              body=json.dumps(body, ensure_ascii=False), received_at=now))
        s.execute(dialect_insert(s, p).values(
            ledger=self.ledger, voucher_id=summary_id, external_number=number, status=store.PENDING,
            is_summary=True, next_attempt_at=now, created_at=now, updated_at=now))
        marked = s.execute(update(p).where(p.c.ledger == self.ledger, p.c.summary_id.is_(None),
                                           p.c.voucher_id.in_([voucher_id for voucher_id, _ in members]))
                           .values(summary_id=summary_id, updated_at=now)).rowcount
        if marked != len(members):  # another composer got there first: this summary must not exist
            raise RuntimeError(f"{number}: {marked} of {len(members)} vouchers could be summed; composing again")
        log.info("%s: summary voucher %s sums %d vouchers", self.ledger, number, len(members))
