"""One clock for the whole hub: instants in UTC, calendar days in the merchant's time zone.

The zone is the settings' `HUB_TIMEZONE`, set once when a process loads its settings; every
business day (lot expiry, accounting periods, reports) is read from here."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Shanghai"
_zone = ZoneInfo(DEFAULT_ZONE)


def configure(zone_name: str) -> None:
    """Use the merchant's time zone for `today()` and `local()` from now on."""
    global _zone
    _zone = ZoneInfo(zone_name)


def zone() -> ZoneInfo:
    return _zone


def now() -> datetime:
    """This instant, in UTC (what every table stores)."""
    return datetime.now(timezone.utc)


def today() -> date:
    """The merchant's calendar day now."""
    return datetime.now(_zone).date()


def local(moment: datetime) -> datetime:
    """A moment on the merchant's wall clock (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(_zone)
