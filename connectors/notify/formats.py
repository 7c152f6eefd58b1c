"""What a target receives for one event: pure functions, no I/O (connectors/notify/runner.py sends).

- json: the event as the hub knows it, `{"event_id", "type", "occurred_at", "aggregate_id",
  "title", "text", "payload"}`, POSTed with the headers X-Hub-Event-Id, X-Hub-Event-Type,
  X-Hub-Timestamp (Unix seconds) and X-Hub-Signature-256: "sha256=" + the hex HMAC-SHA256, keyed with
  the target's secret, of "<timestamp>.<body>" (the exact bytes sent). A receiver recomputes it,
  refuses a timestamp far from its clock (a replay), and keeps the event id: a delivery whose answer
  was lost is sent again with the same id.
- wecom: a WeCom (企业微信) group robot's markdown message, `{"msgtype": "markdown", "markdown":
  {"content": ...}}` (content at most 4096 bytes), to the robot's webhook URL (its key is in the URL;
  WeCom robots have no signature).
- dingtalk: a DingTalk (钉钉) custom robot's markdown message, `{"msgtype": "markdown", "markdown":
  {"title": ..., "text": ...}}`; with a secret (加签), the URL gets `timestamp` (Unix milliseconds) and
  `sign` = URL-encoded Base64 of HMAC-SHA256, keyed with the secret, of "<timestamp>\\n<secret>".

Both robots answer HTTP 200 with {"errcode": 0, ...} when they took the message; another errcode is
a refusal (docs/EXTERNAL_APIS.md section 8)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import quote_plus

from connectors.notify.config import Target

WECOM_MAX_BYTES = 4096  # a WeCom robot's markdown content, in UTF-8 bytes
SIGNATURE_HEADER = "X-Hub-Signature-256"


@dataclass(frozen=True)
class Request:
    url: str
    headers: dict
    body: bytes


def describe(event_type: str, payload: dict) -> tuple[str, list[str]]:
    """A title and the lines of a message a person reads, per event type."""
    p = payload
    if event_type == "order_held":
        what = "Approval waiting" if p.get("approval") else "Order held for review"
        lines = [f"Order: {p.get('order_id')}", f"Reason: {p.get('reason')}"]
        if p.get("rule"):
            lines.append(f"Rule: {p['rule']}")
        if p.get("note"):
            lines.append(f"Note: {p['note']}")
        lines.append(f"Held by {p.get('placed_by')} at {p.get('placed_at')}")
        return f"{what}: order {p.get('order_id')}", lines
    if event_type == "low_stock":
        return (f"Low stock: {p.get('sku')} at {p.get('warehouse')}",
                [f"SKU: {p.get('sku')}", f"Warehouse: {p.get('warehouse')}",
                 f"Available: {p.get('available')} (minimum {p.get('minimum')}, maximum {p.get('maximum')})",
                 f"Short by: {p.get('shortfall')}"])
    if event_type == "approval_waiting":  # procurement's approval chains (a requisition or purchase order)
        kind = str(p.get("document_kind", "")).replace("_", " ")
        who = f"user {p['approver']}" if p.get("approver") else f"role {p.get('role')}"
        return (f"Approval {'overdue' if p.get('overdue') else 'waiting'}: {kind} {p.get('document_id')}",
                [f"Step {p.get('step_no')}: {p.get('step')} ({who})", f"Amount: {p.get('amount')}",
                 f"Requested by {p.get('requester')}", f"Waiting since {p.get('waiting_since')}"])
    if event_type == "voucher_refused":
        return (f"Voucher refused by {p.get('ledger')}: {p.get('external_number')}",
                [f"Ledger: {p.get('ledger')}", f"Voucher: {p.get('voucher_id')} ({p.get('external_number')})",
                 f"Error: {p.get('error')}", f"Refused at {p.get('refused_at')}",
                 "Fix the cause (an account mapping, the period), then re-push it"])
    if event_type == "shop_failing":
        return (f"Shop connector in error: {p.get('platform')} {p.get('shop')}",
                [f"Connector: {p.get('connector')}", f"Shop: {p.get('shop')}", f"Error: {p.get('error')}",
                 f"Since {p.get('since')}: no orders come in from this shop"])
    if event_type == "dead_lettered":
        return (f"Dead letter in {p.get('dead_letter_queue')}",
                [f"Queue: {p.get('queue')}", f"Event: {p.get('event_type')} {p.get('event_id')}",
                 f"Aggregate: {p.get('aggregate_id')}", f"Attempts: {p.get('attempts')}",
                 f"Error: {str(p.get('error'))[:500]}", f"Failed at {p.get('failed_at')}",
                 "List with `hub dlq list`, replay once fixed"])
    return event_type, [f"{k}: {v}" for k, v in sorted(p.items())]


def _markdown(title: str, lines: list[str]) -> str:
    return "\n".join([f"### {title}", *(f"> {line}" for line in lines)])


def _truncate_utf8(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")


def sign_json(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Hub-Signature-256 value of a json delivery."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """A DingTalk robot's `sign` parameter (already URL-encoded)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return quote_plus(base64.b64encode(mac.digest()).decode("ascii"))


def render(target: Target, event: dict, now_seconds: float) -> Request:
    """The request that tells `target` of `event` ({"event_id", "type", "aggregate_id",
    "occurred_at", "payload"}), at `now_seconds` (Unix time: the signatures' timestamps)."""
    title, lines = describe(event["type"], event["payload"])
    json_headers = {"Content-Type": "application/json; charset=utf-8"}
    if target.format == "wecom":
        content = _truncate_utf8(_markdown(title, lines), WECOM_MAX_BYTES)
        body = {"msgtype": "markdown", "markdown": {"content": content}}
        return Request(target.url, json_headers, _dump(body))
    if target.format == "dingtalk":
        body = {"msgtype": "markdown", "markdown": {"title": title, "text": _markdown(title, lines)}}
        url = target.url
        if target.secret:
            ts = int(now_seconds * 1000)
            url += ("&" if "?" in url else "?") + f"timestamp={ts}&sign={dingtalk_sign(target.secret, ts)}"
        return Request(url, json_headers, _dump(body))
    body_bytes = _dump({"event_id": event["event_id"], "type": event["type"], "occurred_at": event["occurred_at"],
                        "aggregate_id": event["aggregate_id"], "title": title, "text": "\n".join(lines),
                        "payload": event["payload"]})
    ts = int(now_seconds)
    return Request(target.url, {**json_headers, "X-Hub-Event-Id": event["event_id"],
                                "X-Hub-Event-Type": event["type"], "X-Hub-Timestamp": str(ts),
                                SIGNATURE_HEADER: sign_json(target.secret, ts, body_bytes)}, body_bytes)


def _dump(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Verdict:
    delivered: bool
    retry: bool  # not delivered, and worth trying again
    error: str = ""


def judge(target: Target, status: int, text: str) -> Verdict:
    """What an answer means: 2xx delivered (a robot's only with errcode 0); 5xx, 408 and 429 (and a
    robot's nonzero errcode: its rate limit answers so) worth another try; any other 4xx final."""
    if 200 <= status < 300:
        if target.format == "json":
            return Verdict(True, False)
        try:
            answer = json.loads(text)
            code = answer.get("errcode")
        except (ValueError, AttributeError):
            return Verdict(False, True, f"HTTP {status}: not a robot's answer: {text[:200]}")
        if code == 0:
            return Verdict(True, False)
        return Verdict(False, True, f"errcode {code}: {str(answer.get('errmsg', ''))[:200]}")
    retry = status >= 500 or status in (408, 429)
    return Verdict(False, retry, f"HTTP {status}: {text[:200]}")
