"""A Cainiao-style electronic waybill (电子面单) client (docs/EXTERNAL_APIS.md section 7): signed TOP
router calls to `cainiao.waybill.ii.get` (take a number for a parcel) and
`cainiao.waybill.ii.query.by.tradecode` (the numbers issued for an order).

Every failure is sorted by what it says about the carrier's state, which is what exactly-once needs
(services/order/waybills.py):
- `NotIssued`: certainly nothing was issued (a rate limit, a refused signature or session): ask again.
- `Ambiguous`: a number may have been issued and the answer lost (a timeout, a 5xx, an unreadable
  answer): look the parcel up before asking again.
- `Refused`: the carrier refused the request itself (a carrier without a waybill account, missing
  address): asking again will not help; a person fixes the data."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # imported by the client (with rich and click, ~6 MiB): most order processes never call a carrier
    import httpx

SHANGHAI = ZoneInfo("Asia/Shanghai")
PATH = "/router/rest"
GET = "cainiao.waybill.ii.get"
QUERY = "cainiao.waybill.ii.query.by.tradecode"
CANCEL = "cainiao.waybill.ii.cancel"
NOT_ISSUED_CODES = {"7", "25", "26", "27", "28", "29", "30", "31"}  # rate limit; gateway checks: nothing done


class CarrierError(Exception):
    pass


class NotIssued(CarrierError):
    """Certainly nothing was issued."""


class Ambiguous(CarrierError):
    """A number may have been issued; the answer was lost."""


class Refused(CarrierError):
    """The carrier refused the request: the data must change before it is asked again."""


@dataclass(frozen=True)
class Waybill:
    object_id: str  # the parcel key the number was asked for with
    waybill_code: str
    cp_code: str


@dataclass(frozen=True)
class CarrierConfig:
    base_url: str
    app_key: str
    app_secret: str
    session: str
    cp_code: str  # the carrier numbers are taken from (e.g. ZTO)
    sender: dict  # {"name", "mobile", "address": {"province", "city", "district", "detail"}}
    timeout_seconds: float = 2.0


def sign(params: dict, secret: str) -> str:
    """TOP md5 signature: non-empty params but `sign`, sorted by key, k1v1k2v2..., wrapped in the secret."""
    body = "".join(f"{k}{params[k]}" for k in sorted(params) if k != "sign" and params[k] not in (None, ""))
    return hashlib.md5(f"{secret}{body}{secret}".encode()).hexdigest().upper()


class CainiaoClient:
    def __init__(self, config: CarrierConfig, transport: httpx.BaseTransport | None = None):
        import httpx
        self.config = config
        self.http = httpx.Client(base_url=config.base_url, timeout=config.timeout_seconds, transport=transport)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, business: dict) -> dict:
        c = self.config
        params = {"method": method, "app_key": c.app_key, "session": c.session, "format": "json", "v": "2.0",
                  "sign_method": "md5", "timestamp": datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"), **business}
        params["sign"] = sign(params, c.app_secret)
        import httpx
        try:
            r = self.http.post(PATH, data=params)
        except httpx.ConnectError as exc:  # never reached the carrier
            raise NotIssued(f"carrier unreachable: {exc}") from exc
        except httpx.HTTPError as exc:  # a timeout or a broken answer after the request went out
            raise Ambiguous(f"no answer from the carrier: {type(exc).__name__} {exc}") from exc
        if r.status_code >= 500:
            raise Ambiguous(f"carrier HTTP {r.status_code}: {r.text[:200]}")
        if r.status_code != 200:
            raise NotIssued(f"carrier HTTP {r.status_code}: {r.text[:200]}")
        try:
            body = r.json()
        except ValueError as exc:
            raise Ambiguous(f"unreadable answer from the carrier: {r.text[:200]}") from exc
        error = body.get("error_response") if isinstance(body, dict) else None
        if error:
            code, sub = str(error.get("code")), str(error.get("sub_code") or "")
            message = f"TOP {code} {error.get('msg')} {sub} {error.get('sub_msg') or ''}".strip()
            if code in NOT_ISSUED_CODES:
                raise NotIssued(message)
            if code in {"10", "520"} or sub.startswith("isp."):  # the service's own trouble: maybe done
                raise Ambiguous(message)
            raise Refused(message)
        root = method.replace(".", "_") + "_response"
        if not isinstance(body, dict) or root not in body:
            raise Ambiguous(f"unexpected answer from the carrier: {str(body)[:200]}")
        return body[root]

    def get_waybill(self, object_id: str, order_code: str, recipient: dict) -> Waybill:
        """Take one number for one parcel: object_id is the parcel's stable key, order_code the order
        the carrier files it under (what `find_waybills` looks up)."""
        c = self.config
        request = {"cp_code": c.cp_code, "sender": c.sender, "trade_order_info_dtos": [{
            "object_id": object_id, "order_info": {"order_channels_type": "OTHERS", "trade_order_list": [order_code]},
            "package_info": {"id": object_id}, "recipient": recipient}]}
        answer = self._call(GET, {"param_waybill_cloud_print_apply_new_request":
                                  json.dumps(request, ensure_ascii=False, separators=(",", ":"))})
        issued = [_waybill(m) for m in _list(answer.get("modules"), "waybill_cloud_print_response")]
        mine = [w for w in issued if w.object_id == object_id and w.waybill_code]
        if not mine:
            raise Ambiguous(f"the carrier's answer names no waybill for {object_id}: {str(answer)[:200]}")
        return mine[0]

    def find_waybills(self, order_code: str) -> list[Waybill]:
        """Every number the carrier issued under this order (for every parcel key)."""
        answer = self._call(QUERY, {"param_list": json.dumps([{"biz_sub_code": order_code}], separators=(",", ":"))})
        found = []
        for module in _list(answer.get("modules"), "waybill_cloud_print_with_result_desc_response"):
            found += [_waybill(m) for m in _list(module.get("waybill_cloud_print_response_list"),
                                                 "waybill_cloud_print_response")]
        return [w for w in found if w.waybill_code]


    def cancel_waybill(self, cp_code: str, waybill_code: str) -> None:
        """Cancel an issued number (商家取消获取的电子面单号: `cp_code`, `waybill_code`; answers `cancel_result`).
        Refused when the carrier says no; Ambiguous/NotIssued as every call (asking again is safe: a
        cancelled number cancelled again is no change)."""
        answer = self._call(CANCEL, {"cp_code": cp_code, "waybill_code": waybill_code})
        if str(answer.get("cancel_result")).lower() != "true":
            raise Refused(f"the carrier did not cancel {waybill_code}: {str(answer)[:200]}")


def _list(value, key: str) -> list:
    """TOP wraps lists in an object named after the item ({"x": [...]}); take either form."""
    if isinstance(value, dict):
        value = value.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _waybill(m: dict) -> Waybill:
    return Waybill(object_id=str(m.get("object_id") or ""), waybill_code=str(m.get("waybill_code") or ""),
                   cp_code=str(m.get("cp_code") or ""))
