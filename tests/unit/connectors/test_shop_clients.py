"""The shop connectors' platform clients against canned platform answers (httpx.MockTransport):
error parsing, order normalisation, amounts (docs/EXTERNAL_APIS.md sections 1 and 2)."""
from __future__ import annotations

import json

import httpx
import pytest

from connectors.shops.platform import PlatformConfig, RateLimited, Shop
from connectors.shops.taobao import TaobaoClient

TB_SHOP = Shop(platform="taobao", shop="tb-main", access_token="tok", refresh_token="rt")


class NoTokens:
    def get(self, shop):
        return None

    def save(self, shop, access, refresh):
        pass


def replying(answer, seen: list | None = None) -> httpx.MockTransport:
    """A transport answering every request with `answer` (a dict, or the raw JSON text)."""
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        return httpx.Response(200, content=text.encode(), headers={"content-type": "application/json"})
    return httpx.MockTransport(handle)


def taobao(answer, seen=None) -> TaobaoClient:
    return TaobaoClient(PlatformConfig(url="http://top.test", app_key="k", app_secret="s", attempts=1),
                        NoTokens(), transport=replying(answer, seen))


@pytest.mark.parametrize("sub_msg, seconds", [("This ban will last for 31062 more seconds", 31062.0),
                                              ("This ban will last for 2 more seconds", 2.0),
                                              ("This ban will last 7 more seconds", 7.0)])
def test_taobao_ban_length_is_read_from_the_real_text_and_the_short_form(sub_msg, seconds):
    client = taobao({"error_response": {"code": 7, "msg": "App Call Limited",
                                        "sub_code": "accesscontrol.limited-by-app-api-access-count",
                                        "sub_msg": sub_msg}})
    with pytest.raises(RateLimited) as raised:
        client._call(TB_SHOP, "taobao.trades.sold.increment.get", {})
    assert raised.value.wait_seconds == seconds
