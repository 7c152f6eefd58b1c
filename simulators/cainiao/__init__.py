"""Cainiao electronic waybill (电子面单) simulator: the shape of `cainiao.waybill.ii.get` and
`cainiao.waybill.ii.query.by.tradecode` on the TOP router (docs/EXTERNAL_APIS.md section 7).

This module holds no server: the path, the default config, the method names and the rendering of a
waybill, so a client and tests can import it cheaply. The server is in app.py. Signing and the error
envelope are TOP's (section 1.3, 1.5), shared with the Taobao simulator."""
from __future__ import annotations

import json
from typing import Any

from simulators.taobao import PATH, TopError, error_body, invalid, missing, request_id, sign, signed

__all__ = ["PATH", "GET", "QUERY", "DEFAULT_CONFIG", "TopError", "error_body", "invalid", "missing", "request_id",
           "sign", "signed", "render", "MAX_DTOS", "MAX_TRADE_ORDERS"]

GET = "cainiao.waybill.ii.get"
QUERY = "cainiao.waybill.ii.query.by.tradecode"
CANCEL = "cainiao.waybill.ii.cancel"  # cp_code, waybill_code -> cancel_result
GET_PARAM = "param_waybill_cloud_print_apply_new_request"
QUERY_PARAM = "param_list"
MAX_DTOS = 10  # trade_order_info_dtos per get call
MAX_TRADE_ORDERS = 100  # trade_order_list entries per dto

DEFAULT_CONFIG: dict[str, Any] = {
    "app_key": "24680135",
    "app_secret": "9c1e7a3b5d2f4e6a8b0c1d2e3f4a5b6c",
    "session": "6200f1e2d3c4b5a6978899aabbccddeeff00112233445566778899aabb0001",
    # carriers this merchant has a waybill account with, and the first number each issues
    "cp_codes": {"ZTO": 75_000_000_000_001, "YTO": 88_000_000_000_001, "STO": 77_000_000_000_001,
                 "YUNDA": 43_000_000_000_001, "SF": 1_000_000_000_001},
    "timestamp_skew_seconds": 600,
}


def render(waybill: dict) -> dict:
    """A waybill as `waybill_cloud_print_response` (object_id, waybill_code, print_data, cp_code)."""
    print_data = {"data": {"waybillCode": waybill["waybill_code"], "cpCode": waybill["cp_code"],
                           "recipient": waybill["recipient"], "orders": waybill["trade_order_list"]},
                  "signature": "SIM", "templateURL": waybill["template_url"]}
    return {"object_id": waybill["object_id"], "waybill_code": waybill["waybill_code"],
            "cp_code": waybill["cp_code"], "parent_waybill_code": "",
            "print_data": json.dumps(print_data, ensure_ascii=False)}
