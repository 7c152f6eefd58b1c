"""Domain errors every service raises; adapters map them (gRPC: hubkit.grpc_server,
HTTP: gateway.errors). Plain exceptions: the domain core imports no framework."""
from __future__ import annotations

from datetime import date


class HubError(Exception):
    code = "internal"

    def __init__(self, message: str, fields: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or []  # [{"field": "lines[0].quantity", "message": "..."}]


class InvalidArgument(HubError):
    code = "invalid_argument"


class NotFound(HubError):
    code = "not_found"


class Conflict(HubError):
    code = "conflict"


class Unavailable(HubError):
    """An outside party (a carrier) gave no certain answer in time; asking again later is safe."""
    code = "unavailable"


class PermissionDenied(HubError):
    """The caller's role may not do this to this document (a finance hold released by sales)."""
    code = "permission_denied"


class FieldErrors:
    """Collects every problem with a request before refusing it, so one answer lists them all."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def add(self, field: str, message: str) -> None:
        self.items.append({"field": field, "message": message})

    def raise_if_any(self, message: str = "the request is invalid") -> None:
        if self.items:
            raise InvalidArgument(message, self.items)


def check_days(start: str, end: str, max_days: int) -> tuple[date, date]:
    """A report's period of days `from`..`to` (YYYY-MM-DD, both included): both given, not upside
    down, at most `max_days` days long; else InvalidArgument naming the field."""
    errors, days = FieldErrors(), {}
    for name, raw in (("from", start), ("to", end)):
        try:
            days[name] = date.fromisoformat(raw)
        except (TypeError, ValueError):
            errors.add(name, "required: a date YYYY-MM-DD")
    if not errors.items:
        if days["from"] > days["to"]:
            errors.add("to", f"the period is upside down: {end} is before {start}")
        elif (days["to"] - days["from"]).days + 1 > max_days:
            errors.add("to", f"a period of at most {max_days} days")
    errors.raise_if_any("the period is invalid")
    return days["from"], days["to"]
