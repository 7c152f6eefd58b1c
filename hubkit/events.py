"""Integration-event contracts, the kernel's half: the base every event definition extends, the
wire types of its fields, parsing an envelope into its contract, and the catalog that derives the
broker's subscriptions from a set of contracts. The definitions themselves live in `contracts/`;
the kernel is handed them, it never imports them.

A contract is a frozen pydantic model of the payload, plus class-level facts: its type, its
schema version, who publishes it and who subscribes. Building one validates the payload, so a
malformed event fails where it is made (inside the transaction that would write it), never later
in the relay or a consumer."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError

from hubkit.envelope import Envelope, EnvelopeError
from hubkit.topology import Subscription


def _no_float(value: Any) -> Any:
    if isinstance(value, float):  # a float has already lost the cents
        raise ValueError("an amount is a decimal string or Decimal, never a float")
    return value


# Wire types: what travels is exactly what the producers wrote before there were contracts.
# Amounts stay decimal strings ("168.00"), moments `isoformat()` text ("...+00:00"), days ISO dates.
Money = Annotated[Decimal, BeforeValidator(_no_float), PlainSerializer(str, return_type=str, when_used="json")]
Timestamp = Annotated[datetime, PlainSerializer(lambda m: m.isoformat(), return_type=str, when_used="json")]
Day = Annotated[date, PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json")]


class InvalidEvent(EnvelopeError):
    """An envelope whose type, schema version or payload does not fit the consumer's contract:
    poison, dead-lettered at once (retrying cannot make it fit)."""


class ContractError(Exception):
    """A contract used against its own definition (emitted by a service that does not publish it,
    handled by one that does not subscribe, an unknown type): a bug, so it fails loudly."""


class Record(BaseModel):
    """A nested part of a payload (an order line, a supplier): as strict as an event."""
    model_config = ConfigDict(extra="forbid", frozen=True)


class Event(Record):
    """One integration event. Subclasses set the ClassVars and declare the payload's fields."""
    type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1
    publisher: ClassVar[str] = ""
    subscribers: ClassVar[tuple[str, ...]] = ()
    latest_only: ClassVar[bool] = False  # only the newest matters: its queues drop the oldest when full

    def payload(self) -> dict:
        """The payload as it travels. A field the producer left out stays out (exclude_unset),
        so an optional field never appears as a null that nobody wrote."""
        return self.model_dump(mode="json", exclude_unset=True)

    def envelope(self, *, aggregate_id: str, sequence: int, correlation_id: str, actor: str) -> Envelope:
        """This event in its envelope, from its publisher: for a process that publishes without an
        outbox (UnitOfWork.emit is the way for a service)."""
        contract = type(self)
        return Envelope(type=contract.type, source=contract.publisher, aggregate_id=aggregate_id, sequence=sequence,
                        payload=self.payload(), correlation_id=correlation_id, actor=actor,
                        schema_version=contract.schema_version)


def _describe(exc: ValidationError) -> str:
    # field paths and reasons only: the input values may be personal data (names, phones)
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(payload)'}: {e['msg']}"
                     for e in exc.errors(include_input=False, include_url=False))


def parse(contract: type[Event], envelope: Envelope, versions: Iterable[int] | None = None) -> Event:
    """The envelope's payload as `contract`; InvalidEvent for another type, a schema version not in
    `versions` (default: the contract's own) or a payload that does not fit."""
    if envelope.type != contract.type:
        raise InvalidEvent(f"expected a {contract.type} event, got {envelope.type!r}")
    accepted = tuple(versions or (contract.schema_version,))
    if envelope.schema_version not in accepted:
        raise InvalidEvent(f"{contract.type} schema version {envelope.schema_version} is not accepted "
                           f"(accepted: {', '.join(map(str, accepted))})")
    try:
        return contract.model_validate(envelope.payload)
    except ValidationError as exc:
        raise InvalidEvent(f"{contract.type} payload does not fit its contract: {_describe(exc)}") from None


def subscription(contract: type[Event], service: str) -> Subscription:
    """`service`'s subscription to `contract`; ContractError if the contract does not name it."""
    if service not in contract.subscribers:
        raise ContractError(f"{service} handles {contract.type}, but the {contract.__name__} contract does not "
                            f"name it as a subscriber ({', '.join(contract.subscribers)})")
    return Subscription(service, contract.type, contract.latest_only)


class Catalog:
    """Every contract of a system, by type: the registry of publishers and subscribers that the
    broker topology, the processes and the consumers are derived from."""

    def __init__(self, *contracts: type[Event]):
        self._by_type: dict[str, type[Event]] = {}
        for c in contracts:
            if not (isinstance(c, type) and issubclass(c, Event)) or not c.type:
                raise ContractError(f"{c!r} is not an event contract with a type")
            if c.type in self._by_type:
                raise ContractError(f"two contracts for {c.type}: {self._by_type[c.type].__name__}, {c.__name__}")
            # every event needs someone to consume it (in a hub that runs that consumer)
            if not c.publisher or not c.subscribers:
                raise ContractError(f"{c.__name__} needs a publisher and at least one subscriber")
            self._by_type[c.type] = c

    def __getitem__(self, event_type: str) -> type[Event]:
        try:
            return self._by_type[event_type]
        except KeyError:
            raise ContractError(f"no contract for event type {event_type!r}; known: "
                                f"{', '.join(sorted(self._by_type))}") from None

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._by_type

    def __iter__(self) -> Iterator[type[Event]]:
        return iter(self._by_type.values())

    def __len__(self) -> int:
        return len(self._by_type)

    def subscriptions(self, service: str | None = None) -> list[Subscription]:
        """Every (subscriber, event) pair, or only `service`'s."""
        return [subscription(c, s) for c in self for s in c.subscribers if service in (None, s)]

    def publishers(self) -> set[str]:
        return {c.publisher for c in self}

    def subscribers(self) -> set[str]:
        return {s for c in self for s in c.subscribers}
