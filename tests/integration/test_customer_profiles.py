"""One customer across channels on PostgreSQL and SQLite: the phone hash merges a phone-only buyer of
another channel, an operator merges and unmerges (audited, terms announced for every channel), tags
and notes, tier rules (versioned, validated, explained, recomputed as orders arrive, kept in the
history), the credit exposure from the books' vouchers and open orders, and the return rate."""
from __future__ import annotations

import json
import uuid
from concurrent import futures
from decimal import Decimal

import grpc
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from contracts import OrderReturned, VoucherPosted
from hub import components
from hubapi.customer.v1 import customer_service_pb2 as pb
from hubapi.customer.v1 import customer_service_pb2_grpc as pb_grpc
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, InvalidArgument, NotFound
from hubkit.inbox import handle_once
from services.customer import domain, handlers, profiles, tiers
from services.customer.grpc_server import CustomerServicer
from services.customer.models import customers, metadata, tier_rule_sets
from tests.integration.test_customer_handlers import placed
from tests.support import infra

pytestmark = pytest.mark.integration
KEY = b"test-phone-key"
TIERS = {"name": "t", "period_days": 365, "default_tier": "regular",
         "tiers": [{"tier": "vip", "when": "spend >= 1000 or (\"business\" in tags and spend >= 100)"}]}


@pytest.fixture(scope="module")
def pg_url():
    # a database of its own: the tier rules applied here must not reach the other customer tests
    prefix = infra.session_name()
    url = infra.create_databases(prefix, ["customer_profiles"])["customer_profiles"]
    components.migrate("customer", url)
    yield url
    infra.drop_databases(prefix, ["customer_profiles"])


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, tmp_path):
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'customer.db'}"
        components.migrate("customer", url)
    database = Database(url, metadata, pool_size=4)
    yield database
    database.dispose()


def _uid() -> str:
    return uuid.uuid4().hex


def order(db, buyer, channel="taobao", total="10.00", placed_at="2024-03-01T08:00:00+00:00") -> tuple[str, str]:
    """An order_placed applied as the worker applies it: recorded, the phone hash and merges, the tier.
    Returns (order id, customer id)."""
    order_id = _uid()
    seen: list[str] = []

    def effect(uow, envelope):
        seen.append(handlers.record_order_placed(uow, envelope))
        profiles.dedup_by_phone(uow, seen, KEY)
        profiles.recompute_tiers(uow, seen)
    assert handle_once(db, "customer", "customer.order_placed", placed(order_id, buyer, total=total, channel=channel,
                                                                       placed_at=placed_at), effect)
    return order_id, seen[0]


def change(db, fn, actor="ops-1"):
    with UnitOfWork(db, "customer", actor, "c") as uow:
        return fn(uow)


def announced(db) -> list[dict]:
    outbox = metadata.tables["outbox"]
    with db.reader() as s:
        return [json.loads(b)["payload"] for b in s.execute(
            select(outbox.c.body).where(outbox.c.event_type == "customer_terms_changed").order_by(outbox.c.id)).scalars()]


def test_a_phone_only_buyer_of_another_channel_joins_the_customer_by_the_phone_hash(db):
    phone, buyer_id = "1" + str(uuid.uuid4().int)[:10], _uid()
    merges_before = REGISTRY.get_sample_value("hub_customer_changes_total", {"change": "merge", "by": "dedup"}) or 0
    o1, taobao = order(db, {"external_id": buyer_id, "phone": phone}, total="30.00")
    o2, storefront = order(db, {"phone": phone[:3] + " " + phone[3:]}, channel="storefront", total="12.50",
                           placed_at="2024-03-05T08:00:00+00:00")
    assert storefront != taobao
    with db.reader() as s:
        row = s.execute(select(customers).where(customers.c.id == storefront)).one()
    # the keyed hash, not the number
    assert row.merged_into == taobao and row.phone_hash == domain.phone_hash(KEY, phone) and phone not in row.phone_hash
    one = handlers.get_customer(db, storefront)  # either row answers the customer
    assert (one["id"], one["merged_ids"], one["order_count"], one["lifetime_value"]) == \
        (taobao, [storefront], 2, Decimal("42.50"))
    assert [o["order_id"] for o in one["orders"]] == [o2, o1] and one["channels"] == ["storefront", "taobao"]
    assert sorted((a["action"], a["actor"], a["why"]) for a in one["audit"]) == \
        [("merge", profiles.DEDUP, "the same phone (keyed hash)"), ("merged", profiles.DEDUP, "the same phone (keyed hash)")]
    assert phone not in json.dumps(one["audit"], default=str) and "phone_hash" not in one
    assert REGISTRY.get_sample_value("hub_customer_changes_total", {"change": "merge", "by": "dedup"}) == \
        merges_before + 1

    change(db, lambda uow: profiles.unmerge(uow, storefront, "two people who share a phone"))
    apart = handlers.get_customer(db, taobao)
    assert (apart["merged_ids"], apart["order_count"], apart["lifetime_value"]) == ([], 1, Decimal("30.00"))
    assert handlers.get_customer(db, storefront)["order_count"] == 1
    order(db, {"phone": phone}, channel="storefront")  # once unmerged by a person, the hash merges it no more
    assert handlers.get_customer(db, storefront)["id"] == storefront
    # two buyer ids sharing a phone are not merged by it: an operator decides (offered as duplicates)
    _, other = order(db, {"external_id": _uid(), "phone": phone}, channel="jd")
    assert handlers.get_customer(db, other)["merged_ids"] == [] and \
        set(handlers.get_customer(db, other)["duplicate_ids"]) == {taobao, storefront}


def test_an_operator_merges_and_unmerges_and_every_channel_gets_the_customers_terms(db):
    a_id, b_id = _uid(), _uid()
    _, a = order(db, {"external_id": a_id}, total="100.00")
    _, b = order(db, {"external_id": b_id}, channel="jd", total="5.00")
    change(db, lambda uow: handlers.set_terms(uow, a, "wholesale", Decimal("1000.00")))
    before = len(announced(db))
    for bad, error in (((a, a, "x"), InvalidArgument), ((a, _uid(), "x"), NotFound), ((b, a, " "), InvalidArgument)):
        with pytest.raises(error):
            change(db, lambda uow, bad=bad: profiles.merge(uow, *bad))
    with pytest.raises(Conflict):
        change(db, lambda uow: profiles.unmerge(uow, b, "not merged"))
    assert len(announced(db)) == before and handlers.get_customer(db, b)["id"] == b  # nothing changed

    change(db, lambda uow: profiles.merge(uow, b, a, "the same company on jd"), actor="sales-7")
    merged = handlers.get_customer(db, b)
    assert (merged["id"], merged["tier"], merged["credit_limit"], merged["order_count"]) == \
        (a, "wholesale", Decimal("1000.00"), 2)
    assert (merged["audit"][0]["actor"], merged["audit"][0]["why"]) == ("sales-7", "the same company on jd")
    # review reads terms per channel buyer: jd's buyer now has the customer's
    assert announced(db)[-1] | {"changed_at": None} == {"customer_id": b, "channel": "jd", "external_id": b_id,
                                                        "tier": "wholesale", "credit_limit": "1000.00",
                                                        "changed_at": None, "group_id": a}
    with pytest.raises(Conflict):
        change(db, lambda uow: profiles.merge(uow, a, b, "again"))

    change(db, lambda uow: profiles.unmerge(uow, b, "two companies after all"), actor="sales-8")
    own = handlers.get_customer(db, b)
    assert (own["id"], own["tier"], own["credit_limit"], own["order_count"]) == (b, "standard", None, 1)
    assert announced(db)[-1]["tier"] == "standard" and announced(db)[-1]["credit_limit"] is None
    assert announced(db)[-1]["group_id"] == b  # its own customer again: review no longer adds it to a's
    assert [(x["action"], x["actor"]) for x in own["audit"]][:2] == [("unmerged", "sales-8"), ("merged", "sales-7")]


def test_tier_rules_are_validated_versioned_recomputed_as_orders_arrive_and_explained(db):
    with pytest.raises(InvalidArgument) as refused:
        change(db, lambda uow: profiles.apply_tier_rules(uow, {**TIERS, "tiers": [{"tier": "vip", "when": "spend >"}]}))
    assert [f["field"] for f in refused.value.fields] == ["tiers[0].when"]
    with pytest.raises(InvalidArgument) as refused:
        change(db, lambda uow: profiles.apply_tier_rules(uow, {**TIERS, "default_tier": "no tier!"}))
    assert [f["field"] for f in refused.value.fields] == ["default_tier"]
    with db.reader() as s:
        assert s.execute(select(tier_rule_sets)).first() is None  # nothing applied
    applied = change(db, lambda uow: profiles.apply_tier_rules(uow, TIERS, "spend decides"))
    assert applied["in_force"] and [v["version"] for v in profiles.tier_rule_versions(db)] == [applied["version"]]

    buyer = _uid()
    from datetime import UTC, datetime
    today = datetime.now(UTC).isoformat()
    _, c = order(db, {"external_id": buyer}, total="600.00", placed_at=today)
    assert handlers.get_customer(db, c)["tier"] == "regular"
    change(db, lambda uow: profiles.tag(uow, c, "business"))  # a tag the rules read
    vip = handlers.get_customer(db, c)
    assert (vip["tier"], vip["tags"]) == ("vip", ["business"])
    change(db, lambda uow: profiles.tag(uow, c, "business", remove=True))
    order(db, {"external_id": buyer}, total="500.00", placed_at=today)
    seen = handlers.get_customer(db, c)
    assert [(t["previous"], t["tier"], t["source"]) for t in seen["tier_history"]] == \
        [("regular", "vip", "rules"), ("vip", "regular", "rules"), ("regular", "vip", "rules"),
         ("standard", "regular", "rules")]
    latest = seen["tier_history"][0]
    assert json.loads(latest["facts"])["spend"] == "1100.00" and json.loads(latest["trace"])[0]["matched"] is True
    why = profiles.explain_tier(db, c)
    assert (why["tier"], why["would_be"], why["matched"]) == ("vip", "vip", "vip")
    assert json.loads(why["trace"]) == [{"tier": "vip", "matched": True,
                                         "facts": {"spend": "1100.00", "tags": []}}]
    assert [c_["tier"] for c_ in announced(db) if c_["customer_id"] == c][-1] == "vip"  # review hears of it
    change(db, lambda uow: handlers.set_terms(uow, c, "gold", None))
    order(db, {"external_id": buyer}, total="1.00", placed_at=today)
    assert handlers.get_customer(db, c)["tier"] == "gold"  # an operator's tier stands over the rules


def test_applying_tier_rules_re_tiers_every_customer_at_once_but_an_operators(db, monkeypatch):
    monkeypatch.setattr(profiles, "RETIER_BATCH", 2)  # several rounds, even with a few customers
    unique = _uid()[:6]
    gold, base = f"gold-{unique}", f"base-{unique}"
    _, a = order(db, {"external_id": _uid()}, total="300.00")
    _, b = order(db, {"external_id": _uid()}, channel="jd", total="300.00")
    change(db, lambda uow: profiles.merge(uow, b, a, "one company"))
    _, small = order(db, {"external_id": _uid()}, total="10.00")
    _, partner = order(db, {"external_id": _uid()}, total="900.00")
    change(db, lambda uow: handlers.set_terms(uow, partner, "partner", None))
    before = len(announced(db))
    rules_ = {"name": "by value", "period_days": 30, "default_tier": base,
              "tiers": [{"tier": gold, "when": "lifetime_value >= 500"}]}
    applied = change(db, lambda uow: profiles.apply_tier_rules(uow, rules_, "value decides"))
    # no order arrived: the tiers changed as the rules were applied
    merged = handlers.get_customer(db, b)
    assert (merged["id"], merged["tier"], handlers.get_customer(db, small)["tier"]) == (a, gold, base)
    assert handlers.get_customer(db, partner)["tier"] == "partner"  # an operator's tier stands
    [latest, *_] = merged["tier_history"]
    assert (latest["tier"], latest["source"], latest["rule_set_version"]) == (gold, "rules", applied["version"])
    assert json.loads(latest["facts"])["lifetime_value"] == "600.00"  # the group's, both channels
    with db.reader() as s:
        roots = s.execute(select(func.count()).select_from(customers).where(customers.c.merged_into.is_(None))).scalar()
    assert applied["retiered"]["customers"] == roots and applied["retiered"]["changed"] >= 2
    # review hears of each customer whose tier changed, on each of its channel buyers, and of no other
    news = {(p["customer_id"], p["tier"], p["group_id"]) for p in announced(db)[before:]}
    assert {(a, gold, a), (b, gold, a), (small, base, small)} <= news and partner not in {n[0] for n in news}
    assert len(announced(db)[before:]) == len(news)
    # the same rules again: nobody changes, nothing is announced, no history written
    again = change(db, lambda uow: profiles.apply_tier_rules(uow, rules_, "again"))
    assert again["retiered"] == {"customers": roots, "changed": 0}
    assert len(announced(db)) == before + len(news)
    assert len(handlers.get_customer(db, a)["tier_history"]) == len(merged["tier_history"])


def test_a_tier_set_by_hand_is_handed_back_to_the_rules_audited(db):
    buyer = _uid()
    _, c = order(db, {"external_id": buyer}, total="600.00")
    change(db, lambda uow: handlers.set_terms(uow, c, "partner", None))
    with db.reader() as s:
        no_rules = profiles.tier_rules_in_force(s)[1] is None
    if no_rules:  # nothing to hand it back to (on a fresh database): refused, nothing changes
        with pytest.raises(Conflict):
            change(db, lambda uow: profiles.tier_to_rules(uow, c, "x"))
        assert [a["action"] for a in handlers.get_customer(db, c)["audit"]] == []
    unique = _uid()[:6]
    gold, base = f"gold-{unique}", f"base-{unique}"
    rules_ = {"name": "by value", "period_days": 30, "default_tier": base,
              "tiers": [{"tier": gold, "when": "lifetime_value >= 500"}]}
    version = change(db, lambda uow: profiles.apply_tier_rules(uow, rules_))["version"]
    order(db, {"external_id": buyer}, total="1.00")
    assert handlers.get_customer(db, c)["tier"] == "partner"  # the operator's stands over the rules
    with pytest.raises(InvalidArgument):
        change(db, lambda uow: profiles.tier_to_rules(uow, c, "x" * 501))
    before = len(announced(db))
    change(db, lambda uow: profiles.tier_to_rules(uow, c, "the partner contract ended"), actor="finance-2")
    seen = handlers.get_customer(db, c)
    assert seen["tier"] == gold
    latest = seen["tier_history"][0]
    assert (latest["previous"], latest["tier"], latest["source"], latest["rule_set_version"], latest["changed_by"]) \
        == ("partner", gold, "rules", version, "finance-2")
    assert json.loads(latest["facts"])["lifetime_value"] == "601.00" and json.loads(latest["trace"])[0]["matched"]
    assert (seen["audit"][0]["action"], seen["audit"][0]["actor"], seen["audit"][0]["why"]) == \
        ("tier_to_rules", "finance-2", "the partner contract ended")
    assert [(p["customer_id"], p["tier"]) for p in announced(db)[before:]] == [(c, gold)]  # review hears of it
    with pytest.raises(Conflict):  # the rules' already: nothing to hand back
        change(db, lambda uow: profiles.tier_to_rules(uow, c, "again"))
    # the rules decide from now on: a stricter rule set takes the tier away
    change(db, lambda uow: profiles.apply_tier_rules(uow, {**rules_, "tiers": [{"tier": gold,
                                                                                 "when": "lifetime_value >= 5000"}]}))
    assert handlers.get_customer(db, c)["tier"] == base


def test_exposure_payments_and_return_rate(db):
    buyer = _uid()
    o1, c = order(db, {"external_id": buyer}, total="100.00")
    change(db, lambda uow: handlers.set_terms(uow, c, "standard", Decimal("150.00")))
    order(db, {"external_id": buyer}, total="80.00")  # placed, not shipped: exposure
    handle_once(db, "customer", "customer.order_shipped", Envelope(
        type="order_shipped", source="order", aggregate_id=o1, sequence=3, correlation_id="c", actor="t",
        payload={"order_id": o1, "shipped_at": "2024-03-02T09:00:00+00:00", "carrier": "SF",
                 "tracking_number": "SF1"}), handlers.record_order_shipped)
    name = f"customer:taobao:{buyer}"

    def voucher(kind, vid, debit, credit):
        return VoucherPosted.model_validate({
            "id": vid, "number": f"记-{vid[:4]}", "voucher_type": "记", "period": "2024-03", "kind": kind,
            "source_type": kind, "source_id": f"ref-{vid[:4]}", "posted_by": "system", "export_status": "pending",
            "reverses": None, "business_date": "2024-03-02", "posted_at": "2024-03-02T10:00:00+00:00",
            "total": debit or credit,
            "lines": [{"line_no": 1, "account": "1122", "summary": "", "debit": debit, "credit": credit,
                       "aux": name, "cost_centre": ""},
                      {"line_no": 2, "account": "1002", "summary": "", "debit": credit, "credit": debit,
                       "aux": "", "cost_centre": ""}]})
    sale, paid = _uid(), _uid()
    change(db, lambda uow: profiles.apply_vouchers(uow, [voucher("sale", sale, "100.00", "0.00"),
                                                         voucher("payment", paid, "0.00", "30.00")], "1122"))
    seen = handlers.get_customer(db, c)
    assert (seen["receivable"], seen["open_orders"], seen["exposure"], seen["available"]) == \
        (Decimal("70.00"), Decimal("80.00"), Decimal("150.00"), Decimal("0.00"))
    assert [(p["voucher_id"], p["amount"]) for p in seen["payments"]] == [(paid, Decimal("30.00"))]
    # the return rate over the window, with the window of the question
    def returned(order_id: str) -> None:
        with UnitOfWork(db, "customer", "t", "c") as uow:
            handlers.record_after_sale(uow, OrderReturned.model_validate({
                "order_id": order_id, "return_id": "R-" + order_id[:8], "channel": "taobao", "shop": "s",
                "external_order_id": "E", "buyer": {}, "reason": "damaged", "returned_at": "2024-03-03T09:00:00+00:00",
                "lines": [{"line_no": 1, "sku": "SKU-1", "quantity": 1, "unit_price": "100.00", "amount": "100.00",
                           "warehouse": "SH"}]}), Envelope(type="order_returned", source="order", aggregate_id=order_id,
                                                          sequence=4, correlation_id="c", actor="t", payload={}))
    returned(o1)
    wide = handlers.get_customer(db, c, window_days=366 * 10)
    assert (wide["window_orders"], wide["window_returns"], wide["return_rate"]) == (2, 1, Decimal("0.5000"))
    assert handlers.get_customer(db, c, window_days=1)["window_orders"] == 0
    # a rule over returns, applied to everyone: a customer's return counts (the returns' facts of a batch;
    # c's tier is an operator's since set_terms, so another customer shows it)
    o3, c3 = order(db, {"external_id": _uid()}, total="20.00")
    returned(o3)
    returner = f"returner-{buyer[:6]}"
    change(db, lambda uow: profiles.apply_tier_rules(uow, {
        "name": "returns", "period_days": 3660, "default_tier": "standard",
        "tiers": [{"tier": returner, "when": "returns >= 1"}]}, "returns decide"))
    assert handlers.get_customer(db, c3)["tier"] == returner


def test_grpc_refuses_bad_input_and_changes_nothing(db):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_CustomerServiceServicer_to_server(CustomerServicer(db), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = pb_grpc.CustomerServiceStub(channel)
    try:
        _, c = order(db, {"external_id": _uid()})
        versions = len(stub.ListTierRules(pb.ListTierRulesRequest()).versions)
        for call, request, code in (
                (stub.MergeCustomers, pb.MergeCustomersRequest(id=c, into=c, why="x"), grpc.StatusCode.INVALID_ARGUMENT),
                (stub.MergeCustomers, pb.MergeCustomersRequest(id=c, into=_uid(), why="x"), grpc.StatusCode.NOT_FOUND),
                (stub.UnmergeCustomer, pb.UnmergeCustomerRequest(id=c, why="x"), grpc.StatusCode.FAILED_PRECONDITION),
                (stub.TagCustomer, pb.TagCustomerRequest(id=c, tag="no tags!"), grpc.StatusCode.INVALID_ARGUMENT),
                (stub.AddCustomerNote, pb.AddCustomerNoteRequest(id=c, text=" "), grpc.StatusCode.INVALID_ARGUMENT),
                (stub.ApplyTierRules, pb.ApplyTierRulesRequest(document="name: x\ntiers: []\n"),
                 grpc.StatusCode.INVALID_ARGUMENT),
                (stub.ExplainTier, pb.ExplainTierRequest(id=_uid()), grpc.StatusCode.NOT_FOUND),
                (stub.TierToRules, pb.TierToRulesRequest(id=_uid()), grpc.StatusCode.NOT_FOUND),
                # no tier set by hand (or no rules in force): nothing to hand back
                (stub.TierToRules, pb.TierToRulesRequest(id=c, why="x"), grpc.StatusCode.FAILED_PRECONDITION)):
            with pytest.raises(grpc.RpcError) as caught:
                call(request)
            assert caught.value.code() == code, request
        got = stub.GetCustomer(pb.GetCustomerRequest(id=c)).customer
        assert (list(got.tags), list(got.notes), list(got.audit), got.merged_into) == ([], [], [], "")
        assert len(stub.ListTierRules(pb.ListTierRulesRequest()).versions) == versions
        noted = stub.AddCustomerNote(pb.AddCustomerNoteRequest(id=c, text="pays by transfer")).customer
        assert [n.text for n in noted.notes] == ["pays by transfer"] and noted.audit[0].action == "note"
    finally:
        channel.close()
        server.stop(None)


def test_the_example_tier_rules_compile():
    example = tiers.compile_tiers(tiers.EXAMPLE_FILE.read_text(encoding="utf-8"))
    assert [t.tier for t in example.doc.tiers] == ["vip", "gold"] and example.doc.default_tier == "regular"
