"""The event envelope every domain event travels in (docs/ARCHITECTURE.md: The event envelope)."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field, fields

from hubkit import clock

SCHEMA_VERSION = 1
AGGREGATE_ID_MAX = 64  # the width of the outbox and inbox sequence columns


def aggregate_key(kind: str, *parts: str) -> str:
    """`kind:part/part`, or when that is too long for the sequence tables, `kind:` and a stable
    digest of it (so every consumer still sees one aggregate)."""
    key = f"{kind}:{'/'.join(parts)}"
    if len(key) <= AGGREGATE_ID_MAX:
        return key
    return f"{kind}:{hashlib.sha256(key.encode()).hexdigest()[:AGGREGATE_ID_MAX - len(kind) - 1]}"


class EnvelopeError(ValueError):
    """A message that is not a valid envelope: poison, dead-lettered without retries."""


@dataclass(frozen=True)
class Envelope:
    type: str
    source: str
    aggregate_id: str
    sequence: int
    payload: dict
    correlation_id: str
    actor: str
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    schema_version: int = SCHEMA_VERSION
    occurred_at: str = field(default_factory=lambda: clock.now().isoformat())

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        # the fields as they are (to_dict copies the payload deeply first: a third of an emit's time)
        return json.dumps({f.name: getattr(self, f.name) for f in _FIELDS}, separators=(",", ":"), default=str)

    @classmethod
    def from_dict(cls, data) -> Envelope:
        if not isinstance(data, dict):
            raise EnvelopeError(f"envelope must be an object, got {type(data).__name__}")
        required = {"event_id": str, "type": str, "source": str, "aggregate_id": str,
                    "sequence": int, "payload": dict, "correlation_id": str, "actor": str,
                    "schema_version": int, "occurred_at": str}
        problems = [f"{k}: expected {t.__name__}" for k, t in required.items()
                    if not isinstance(data.get(k), t) or isinstance(data.get(k), bool)]
        if problems:
            raise EnvelopeError("invalid envelope: " + "; ".join(problems))
        if data["sequence"] < 1:
            raise EnvelopeError("invalid envelope: sequence must be >= 1")
        return cls(**{k: data[k] for k in required})

    @classmethod
    def from_json(cls, raw) -> Envelope:
        try:
            data = json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise EnvelopeError(f"not JSON: {exc}") from None
        return cls.from_dict(data)


_FIELDS = fields(Envelope)
