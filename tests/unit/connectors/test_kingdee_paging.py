"""The Kingdee client reads a period page by page (ExecuteBillQuery's StartRow/Limit), so a period
with more rows than one answer holds is reconciled whole."""
from __future__ import annotations

import json

import httpx

from connectors.ledgers.clients import KingdeeClient
from connectors.ledgers.config import KingdeeConfig

CONFIG = KingdeeConfig(url="http://kingdee.test/k3cloud/", acct_id="acct", user_name="hub", app_id="app",
                       app_secret="secret")


def _ledger(rows: list, most_per_answer: int, asked: list):
    """A ledger that answers at most `most_per_answer` rows per query, as a real server caps them."""
    def handle(request: httpx.Request) -> httpx.Response:
        if "LoginByAppSecret" in request.url.path:
            return httpx.Response(200, json={"LoginResultType": 1, "KDSVCSessionId": "s1"})
        data = json.loads(request.content)["data"]
        asked.append((data["StartRow"], data["Limit"]))
        start, limit = data["StartRow"], min(data["Limit"], most_per_answer)
        return httpx.Response(200, json=rows[start:start + limit])
    return httpx.MockTransport(handle)


def _rows(vouchers: int, lines: int) -> list:
    return [[v, f"JZ-{v:04d}", "2026-11-30", f"[HUB-202611-JZ-{v:04d}] sale", "1122" if n % 2 else "6001",
             10 if n % 2 else 0, 0 if n % 2 else 10] for v in range(1, vouchers + 1) for n in range(lines)]


def test_a_period_larger_than_a_page_is_read_whole(monkeypatch):
    monkeypatch.setattr(KingdeeClient, "QUERY_PAGE", 4)
    asked: list = []
    client = KingdeeClient(CONFIG, transport=_ledger(_rows(5, 2), most_per_answer=4, asked=asked))
    vouchers = client.vouchers_for_period("2026-11")
    assert len(vouchers) == 5 and all(len(v["lines"]) == 2 for v in vouchers)
    assert [v["external_number"] for v in vouchers] == [f"HUB-202611-JZ-{n:04d}" for n in range(1, 6)]
    assert asked == [(0, 4), (4, 4), (8, 4)]  # the last, short page ends the read


def test_a_look_up_by_external_number_reads_one_row():
    asked: list = []
    client = KingdeeClient(CONFIG, transport=_ledger(_rows(3, 2), most_per_answer=100, asked=asked))
    assert client.find("HUB-202611-JZ-0001") == "1/JZ-0001"
    assert asked == [(0, 1)]
