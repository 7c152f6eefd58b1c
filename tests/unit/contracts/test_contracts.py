"""The integration events against their producers and consumers: every contract round-trips with
its payload unchanged on the wire, the catalog declares exactly the subscriptions the workers and
connectors handle, and each subscriber parses what the publisher writes, the way it does."""
from __future__ import annotations

import inspect
import json
from decimal import Decimal

import pytest

import contracts
from connectors.ledgers import mapping
from connectors.ledgers import runner as ledger_runner
from connectors.notify import config as notify_config
from connectors.notify import runner as notify_runner
from connectors.shops import runner as shop_runner
from contracts import CATALOG
from hub import components
from hubkit import delivery, events
from hubkit.consumer import EventConsumer
from hubkit.envelope import Envelope
from services.accounting import chart
from services.accounting import domain as accounting
from services.customer import domain as customer
from services.order import domain as order
from services.procurement import domain as procurement
from tests.unit.contracts.samples import PAYLOADS

RULES = accounting.Rules(accounts=chart.DEFAULT_ACCOUNTS, vat_rate=Decimal("0.13"), timezone="Asia/Shanghai")


def _travelled(event: events.Event) -> Envelope:
    """The event as a consumer receives it: in its envelope, through JSON."""
    return Envelope.from_json(event.envelope(aggregate_id="agg-1", sequence=1, correlation_id="c-1",
                                             actor="test").to_json())


def _build(event_type: str) -> events.Event:
    return CATALOG[event_type].model_validate(PAYLOADS[event_type])


# -- the catalog ----------------------------------------------------------------------------
def test_every_contract_is_in_the_catalog_and_has_a_sample():
    defined = {obj for obj in vars(contracts.events).values()
               if inspect.isclass(obj) and issubclass(obj, events.Event) and obj.type}
    assert defined == set(CATALOG)
    assert set(PAYLOADS) == {c.type for c in CATALOG}


def test_publishers_are_the_services_the_connectors_and_any_consumer_of_its_dead_letters():
    assert CATALOG.publishers() <= {*components.SERVICES, "shops", "ledger", "any_consumer"}
    assert {c.type for c in CATALOG if c.publisher == "shops"} == {"channel_order_changed", "shop_failing"}
    assert {c.type for c in CATALOG if c.publisher == "ledger"} == {"voucher_refused"}
    assert {c.type for c in CATALOG if c.publisher == "any_consumer"} == {"dead_lettered"}


def test_a_dead_letters_announcement_fits_its_contract_and_keeps_its_id_until_replayed():
    sub = CATALOG.subscriptions("accounting")[0]
    body = _travelled(_build(sub.event_type)).to_json().encode()
    decision = delivery.after_failure(sub, {delivery.ATTEMPTS_HEADER: 4}, KeyError("x"), delivery.Policy())
    notice = delivery.notice(decision, body, {})
    event = events.parse(contracts.DeadLettered, Envelope.from_json(notice.to_json()))
    assert (event.queue, event.attempts, event.error) == (sub.queue, 5, "KeyError: 'x'")
    assert event.event_id == json.loads(body)["event_id"] and event.event_type == sub.event_type
    assert delivery.notice(decision, body, {}).event_id == notice.event_id  # set aside twice: one notification
    replayed = delivery.notice(decision, body, {delivery.REPLAYED_HEADER: 1})
    assert replayed.event_id != notice.event_id  # replayed and dead-lettered again: news
    poison = delivery.notice(delivery.poison(sub, "not JSON"), b"\xff", None)
    assert events.parse(contracts.DeadLettered, poison).event_id is None


def _worker_handlers() -> dict[tuple[str, str], EventConsumer]:
    found = {}
    for service in components.SERVICES:
        cls = components.worker_class(service)
        for attr in vars(cls).values():
            for entry in getattr(attr, "nameko_entrypoints", ()):
                if isinstance(entry, EventConsumer):
                    assert (cls.name, entry.contract.type) not in found, "two handlers of one subscription"
                    found[(cls.name, entry.contract.type)] = entry
    return found


def _connector_handlers() -> set[tuple[str, str]]:
    shops = {(f"shops_{p}", c.type) for p in components.PLATFORMS for c, *_ in shop_runner.HANDLERS}
    notified = {(notify_runner.CONSUMER, t) for t in notify_config.EVENT_TYPES}
    return shops | {(ledger_runner.CONSUMER, c.type) for c, _ in ledger_runner.HANDLERS} | notified


def test_the_catalog_declares_exactly_the_subscriptions_that_are_handled():
    declared = {(s.service, s.event_type) for s in CATALOG.subscriptions()}
    handled = set(_worker_handlers()) | _connector_handlers()
    assert declared - handled == set(), "subscribed, but nobody handles it"
    assert handled - declared == set(), "handled, but the contract does not name the subscriber"


def test_the_processes_follow_from_the_catalog():
    assert [s for s in components.SERVICES if components.has_relay(s)] == ["order", "inventory", "procurement",
                                                                             "customer", "accounting"]
    assert all(components.has_worker(s) for s in components.SERVICES)
    [stock] = [s for s in CATALOG.subscriptions("shops_jd") if s.latest_only]
    assert stock.event_type == "stock_changed"


def test_an_unknown_type_is_a_clear_error():
    assert "order_placed" in CATALOG and "order_placd" not in CATALOG
    with pytest.raises(events.ContractError, match="no contract for event type 'order_placd'; known: "):
        CATALOG["order_placd"]


# -- the wire -----------------------------------------------------------------------------------
@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
def test_every_event_round_trips_and_its_payload_is_unchanged_on_the_wire(event_type):
    event = _build(event_type)
    assert event.payload() == PAYLOADS[event_type]  # what producers wrote before contracts, key for key
    assert events.parse(CATALOG[event_type], _travelled(event)) == event


@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
def test_every_required_field_is_required(event_type):
    contract = CATALOG[event_type]
    for name, field in contract.model_fields.items():
        payload = {k: v for k, v in PAYLOADS[event_type].items() if k != name}
        if field.is_required():
            with pytest.raises(events.InvalidEvent, match=f"{name}: Field required"):
                events.parse(contract, Envelope(type=event_type, source=contract.publisher, aggregate_id="a",
                                                sequence=1, payload=payload, correlation_id="c", actor="t"))
        else:  # left out by a producer: parsed, and still left out
            assert contract.model_validate(payload).payload() == payload


def test_amounts_stay_decimal_strings_and_refuse_floats():
    placed = _build("order_placed")
    assert placed.total == Decimal("355.90") and placed.payload()["total"] == "355.90"
    with pytest.raises(ValueError, match="never a float"):
        contracts.OrderPlaced.model_validate({**PAYLOADS["order_placed"], "total": 355.9})


def test_a_payload_that_does_not_fit_is_refused_without_its_values():
    """Dead-letter headers never carry personal data: the error names the field, not the value."""
    payload = {**PAYLOADS["order_placed"], "buyer": "李雷 13800138000", "surprise": "李雷"}
    envelope = Envelope(type="order_placed", source="order", aggregate_id="a", sequence=1, payload=payload,
                        correlation_id="c", actor="t")
    with pytest.raises(events.InvalidEvent) as refused:
        events.parse(contracts.OrderPlaced, envelope)
    message = str(refused.value)
    assert "buyer" in message and "surprise" in message and "李雷" not in message and "138" not in message


def test_another_type_or_schema_version_is_refused():
    envelope = _travelled(_build("stock_short"))
    with pytest.raises(events.InvalidEvent, match="expected a stock_reserved event"):
        events.parse(contracts.StockReserved, envelope)
    newer = Envelope(**{**envelope.to_dict(), "schema_version": 2})
    with pytest.raises(events.InvalidEvent, match="schema version 2 is not accepted"):
        events.parse(contracts.StockShort, newer)
    assert events.parse(contracts.StockShort, newer, versions=(1, 2)) == _build("stock_short")


# -- each subscriber parses what its publisher writes ----------------------------------------------
def _domain_parse(service: str, envelope: Envelope, event: events.Event) -> None:
    """The consumer's own reading of the payload, where it is pure (no database)."""
    p, t = envelope.payload, envelope.type
    if service == "customer" and t == "order_placed":
        assert customer.parse_order_placed(p).order_id == event.order_id
    elif service == "customer" and t == "order_shipped":
        assert customer.parse_order_shipped(p).order_id == event.order_id
    elif service == "procurement" and t == "low_stock":
        assert procurement.parse_low_stock(p).shortfall == event.shortfall
    elif service == "procurement" and t in ("lot_expiring", "lot_hold_changed"):
        assert procurement.alerts_from_signal(t, p)[1]
    elif service == "order" and t == "channel_order_changed":
        order.validate_channel(order.channel_order(event))
    elif service == "accounting" and t != "purchase_receipt_refused":  # reverses a posted voucher: needs the books
        rule = {"order_shipped": accounting.sale, "order_returned": accounting.sales_return,
                "order_refunded": accounting.sales_refund,
                "goods_issued": accounting.cost_of_goods, "goods_returned": accounting.return_cost,
                "purchase_received": accounting.purchase, "purchase_return_shipped": accounting.purchase_return,
                "stock_adjusted": accounting.stock_adjustment, "stock_received": accounting.stock_receipt,
                "stock_transferred": accounting.stock_transfer,
                "kit_changed": accounting.kit_change, "purchase_cost_adjusted": accounting.purchase_cost}[t]
        assert accounting.check_balanced(rule(p, RULES)) > 0
    elif service == "ledger":
        assert mapping.external_number(p) == "HUB-202603-JZ-0007"


@pytest.mark.parametrize("sub", CATALOG.subscriptions(), ids=lambda s: s.queue)
def test_each_subscriber_parses_what_the_publisher_writes(sub):
    event = _build(sub.event_type)
    envelope = _travelled(event)
    entry = _worker_handlers().get((sub.service, sub.event_type))
    contract, versions = (entry.contract, entry.versions) if entry else (CATALOG[sub.event_type], None)
    assert events.parse(contract, envelope, versions) == event
    _domain_parse(sub.service, envelope, event)
    json.dumps(envelope.payload)  # and it is plain JSON


def test_an_order_placed_before_priorities_parses_with_none():
    """order_placed events written before issue 13 have no priority or ship_by: they parse as 0 and
    none, and an order given neither writes neither."""
    from contracts import OrderPlaced
    payload = {k: v for k, v in PAYLOADS["order_placed"].items() if k not in ("priority", "ship_by")}
    event = OrderPlaced.model_validate(payload)
    assert (event.priority, event.ship_by) == (0, None)
    assert "priority" not in event.payload() and "ship_by" not in event.payload()
