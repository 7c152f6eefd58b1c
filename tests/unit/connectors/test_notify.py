"""The notifier's message formats and signatures, its targets file, and its delivery log on a fake
target: a 5xx is tried again, a 2xx is final, an event delivered twice is one delivery."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from sqlalchemy import select

from connectors.notify import config, formats, runner, store
from contracts import LowStock, OrderHeld
from hubkit import clock
from hubkit.envelope import Envelope
from tests.unit.contracts.samples import PAYLOADS

HELD = {"order_id": "o-1", "hold_id": "h-1", "reason": "finance_approval", "rule": "credit", "note": "超出信用额度",
        "approval": True, "placed_by": "review", "placed_at": "2026-12-06T05:00:00+00:00"}
EVENT = {"event_id": "e" * 32, "type": "order_held", "aggregate_id": "o-1",
         "occurred_at": "2026-12-06T05:00:00+00:00", "payload": HELD}
NOW = 1_765_000_000.123


def _target(fmt="json", secret="s3cret", **kw):
    return config.Target(name=f"t-{fmt}", url=kw.pop("url", f"https://example.com/{fmt}?access_token=abc"),
                         format=fmt, events=("order_held", "low_stock"), secret=secret, **kw)


def test_a_json_delivery_is_signed_over_the_timestamp_and_the_exact_body():
    req = formats.render(_target(), EVENT, NOW)
    ts = req.headers["X-Hub-Timestamp"]
    assert ts == "1765000000" and req.headers["X-Hub-Event-Id"] == "e" * 32
    expected = hmac.new(b"s3cret", ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert req.headers["X-Hub-Signature-256"] == f"sha256={expected}"
    body = json.loads(req.body)
    assert body["payload"] == HELD and body["type"] == "order_held" and body["title"].startswith("Approval waiting")
    # another secret, or one byte changed, is another signature
    assert formats.sign_json("other", int(ts), req.body) != req.headers["X-Hub-Signature-256"]
    assert formats.sign_json("s3cret", int(ts), req.body + b" ") != req.headers["X-Hub-Signature-256"]


def test_a_wecom_robot_gets_a_markdown_message_within_its_4096_bytes():
    req = formats.render(_target("wecom", secret=""), EVENT, NOW)
    body = json.loads(req.body)
    assert set(body) == {"msgtype", "markdown"} and body["msgtype"] == "markdown"
    assert "o-1" in body["markdown"]["content"] and "超出信用额度" in body["markdown"]["content"]
    assert req.url == "https://example.com/wecom?access_token=abc" and "X-Hub-Signature-256" not in req.headers
    long = {**EVENT, "payload": {**HELD, "note": "长" * 3000}}  # 9,000 bytes of UTF-8
    content = json.loads(formats.render(_target("wecom", secret=""), long, NOW).body)["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096 and content.endswith("长")  # cut between characters


def test_a_dingtalk_robot_gets_markdown_and_its_timestamp_and_sign_in_the_url():
    req = formats.render(_target("dingtalk", secret="SECabc"), EVENT, NOW)
    body = json.loads(req.body)
    assert body["msgtype"] == "markdown" and set(body["markdown"]) == {"title", "text"}
    query = parse_qs(urlsplit(req.url).query)
    assert query["access_token"] == ["abc"] and query["timestamp"] == ["1765000000123"]
    # DingTalk's algorithm, written out: Base64(HMAC-SHA256(key=secret, "<timestamp>\n<secret>")), URL-encoded
    digest = hmac.new(b"SECabc", b"1765000000123\nSECabc", hashlib.sha256).digest()
    assert query["sign"] == [base64.b64encode(digest).decode()]  # parse_qs decoded it
    assert f"sign={quote(base64.b64encode(digest).decode(), safe='')}" in req.url
    plain = formats.render(_target("dingtalk", secret=""), EVENT, NOW)  # a robot without 加签
    assert "sign=" not in plain.url and "timestamp=" not in plain.url


def test_low_stock_reads_as_what_is_short_where():
    title, lines = formats.describe("low_stock", {"sku": "TEA-1", "warehouse": "SH", "available": 2, "minimum": 10,
                                                  "maximum": 50, "shortfall": 8})
    assert title == "Low stock: TEA-1 at SH" and "Short by: 8" in lines


@pytest.mark.parametrize("fmt,status,text,delivered,retry", [
    ("json", 200, "", True, False), ("json", 204, "", True, False),
    ("json", 500, "boom", False, True), ("json", 503, "", False, True), ("json", 429, "", False, True),
    ("json", 408, "", False, True), ("json", 404, "", False, False), ("json", 400, "", False, False),
    ("wecom", 200, '{"errcode":0,"errmsg":"ok"}', True, False),
    ("wecom", 200, '{"errcode":45009,"errmsg":"api freq out of limit"}', False, True),
    ("dingtalk", 200, '{"errcode":310000,"errmsg":"sign not match"}', False, True),
    ("dingtalk", 200, "<html>", False, True),
])
def test_an_answer_is_delivered_retried_or_final(fmt, status, text, delivered, retry):
    verdict = formats.judge(_target(fmt), status, text)
    assert (verdict.delivered, verdict.retry) == (delivered, retry)
    assert bool(verdict.error) != delivered


@pytest.mark.parametrize("target,problem", [
    ({"name": "a", "url": "ftp://x", "format": "json", "secret": "s", "events": ["order_held"]}, "url"),
    ({"name": "a", "url": "http://x", "format": "slack", "events": ["order_held"]}, "format"),
    ({"name": "a", "url": "http://x", "format": "json", "events": ["order_held"]}, "needs a secret"),
    ({"name": "a", "url": "http://x", "format": "wecom", "events": ["order_placed"]}, "events"),
    ({"name": "a", "url": "http://x", "format": "wecom", "events": []}, "events"),
    ({"name": "a", "url": "http://x", "format": "wecom", "events": ["low_stock"], "colour": 1}, "unknown keys"),
])
def test_a_bad_target_is_one_clear_line(target, problem):
    with pytest.raises(config.TargetsError, match=problem):
        config.parse({"targets": [target]})


def test_the_targets_file_names_the_events_the_notifier_subscribes_to(tmp_path):
    path = tmp_path / "notify.json"
    path.write_text(json.dumps({"targets": [
        {"name": "ops", "url": "http://x", "format": "json", "secret": "s", "events": ["order_held"]},
        {"name": "wx", "url": "http://y", "format": "wecom", "events": ["order_held", "order_held"]}]}))
    targets = config.load(str(path))
    assert config.wanted(targets) == {"order_held"} and targets["wx"].events == ("order_held",)
    assert config.load("") == {}
    path.write_text("{not json")
    with pytest.raises(SystemExit, match="not JSON"):
        config.load(str(path))


def test_every_kind_a_person_acts_on_is_subscribable_and_reads_as_what_to_do():
    assert set(config.EVENT_TYPES) == {"order_held", "low_stock", "approval_waiting", "voucher_refused",
                                       "shop_failing", "dead_lettered"}
    expected = {"approval_waiting": ("Approval waiting: purchase order " + "b" * 32, "Amount: 5000.00"),
                "voucher_refused": ("Voucher refused by kingdee: HUB-202603-JZ-0007", "科目 6001 不存在"),
                "shop_failing": ("Shop connector in error: taobao tea-flagship", "isv.session-expired"),
                "dead_lettered": ("Dead letter in accounting.order_shipped.dlq", "hub dlq list")}
    for event_type, (title, needle) in expected.items():
        got_title, lines = formats.describe(event_type, PAYLOADS[event_type])
        assert got_title == title and any(needle in line for line in lines), (event_type, lines)
    config.parse({"targets": [{"name": "ops", "url": "http://x", "format": "wecom", "events": list(expected)}]})


def test_backoff_doubles_up_to_its_cap():
    assert [runner.backoff(n, 2.0, 10.0) for n in (1, 2, 3, 4, 5)] == [2.0, 4.0, 8.0, 10.0, 10.0]


class _Receiver:
    """A target answering from a script of statuses (then 200), recording what it received."""

    def __init__(self, *statuses):
        self.statuses, self.received = list(statuses), []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 0:
            raise httpx.ConnectTimeout("timed out", request=request)
        return httpx.Response(status, text="ok")


@pytest.fixture
def notifier(tmp_path, monkeypatch):
    def make(receiver, **target):
        settings = config.Settings(notify_db_url=f"sqlite:///{tmp_path / 'notify.db'}", notify_retry_base_seconds=0.01,
                                   notify_retry_max_seconds=0.01, amqp_uri="amqp://guest:guest@127.0.0.1:1/%2F")
        targets = {"ops": config.Target(name="ops", url="http://ops.test/hook", format="json", secret="s",
                                        events=("order_held",), **target)}
        n = runner.Notifier(settings, targets, http=httpx.Client(transport=httpx.MockTransport(receiver)))
        store.metadata.create_all(n.db.engine)
        return n
    return make


def _envelope(contract, payload, event_id="a" * 32) -> tuple:
    envelope = Envelope(type=contract.type, source=contract.publisher, aggregate_id="o-1", sequence=1,
                        payload=payload, correlation_id="c", actor="test", event_id=event_id)
    return contract.model_validate(payload), envelope


def _log(n) -> list[dict]:
    with n.db.reader() as s:
        return [dict(r) for r in s.execute(select(store.deliveries)).mappings()]


def _drain(n, rounds=20):
    for _ in range(rounds):
        if not _log(n) or all(r["status"] != store.PENDING for r in _log(n)):
            return
        n.deliver_due()
        wait = n.due_in()
        if wait:
            time.sleep(wait)


def test_two_holds_of_one_order_are_two_notifications_even_out_of_order(notifier):
    n = notifier(_Receiver())
    later = Envelope(type="order_held", source="order", aggregate_id="o-1", sequence=7, payload=HELD,
                     correlation_id="c", actor="t", event_id="7" * 32)
    earlier = Envelope(type="order_held", source="order", aggregate_id="o-1", sequence=3, payload=HELD,
                       correlation_id="c", actor="t", event_id="3" * 32)
    assert n.on_events([(None, later), (None, earlier)]) == [True, True]
    _drain(n)
    assert sorted((r["event_id"][0], r["status"]) for r in _log(n)) == [("3", "delivered"), ("7", "delivered")]


def test_a_5xx_is_tried_again_and_the_event_delivered_once(notifier):
    receiver = _Receiver(500, 0, 503)
    n = notifier(receiver)
    assert n.on_events([_envelope(OrderHeld, HELD)]) == [True]
    assert n.on_events([_envelope(OrderHeld, HELD)]) == [False]  # the broker's redelivery: no second delivery
    _drain(n)
    [row] = _log(n)
    assert (row["status"], row["attempts"], row["last_status"], row["target"]) == (store.DELIVERED, 4, 200, "ops")
    assert len(receiver.received) == 4
    assert {r.headers["X-Hub-Event-Id"] for r in receiver.received} == {"a" * 32}
    n.deliver_due()
    assert len(receiver.received) == 4  # delivered is final


def test_a_final_4xx_or_the_last_attempt_fails_the_delivery_with_its_error(notifier):
    n = notifier(_Receiver(404))
    n.on_events([_envelope(OrderHeld, HELD)])
    _drain(n)
    assert [(r["status"], r["attempts"], r["last_error"]) for r in _log(n)] == [(store.FAILED, 1, "HTTP 404: ok")]
    m = notifier(_Receiver(500, 500, 500), max_attempts=2)
    m.on_events([_envelope(OrderHeld, HELD, "b" * 32)])
    _drain(m)
    row = next(r for r in _log(m) if r["event_id"] == "b" * 32)
    assert (row["status"], row["attempts"], row["last_status"]) == (store.FAILED, 2, 500)


def test_an_event_no_target_wants_is_kept_for_none(notifier):
    n = notifier(_Receiver())
    low = {"sku": "TEA-1", "warehouse": "SH", "available": 1, "minimum": 5, "maximum": 20, "shortfall": 4,
           "occurred_at": clock.now().isoformat()}
    assert n.on_events([_envelope(LowStock, low)]) == [False]  # acked, nothing to send
    assert _log(n) == []


def test_deliveries_of_a_target_no_longer_configured_wait_untouched(notifier, tmp_path):
    receiver = _Receiver()
    n = notifier(receiver)
    n.on_events([_envelope(OrderHeld, HELD)])
    n.targets = {}  # the file changed and the notifier started again without "ops"
    assert n.deliver_due() == 0 and n.due_in() is None
    assert [(r["status"], r["attempts"]) for r in _log(n)] == [(store.PENDING, 0)] and receiver.received == []
