"""Shops, their credentials and SKU mappings: a JSON file named by HUB_SHOPS_FILE, kept out of the
repository (it holds secrets). Shape:

{"taobao": {"url": "https://eco.taobao.com", "app_key": "...", "app_secret": "...",
            "shops": [{"shop": "tb-main", "access_token": "...", "refresh_token": "...",
                       "stock_ratio": 0.4, "safety_buffer": 2}],
            "skus": {"TEE-WHT-M": [{"sku": "TEE-WHITE-M", "quantity": 1}],
                     "GIFT-SET": [{"sku": "TEA-250G", "quantity": 1}, {"sku": "CUP", "quantity": 2}]}},
 "jd": {"url": "https://api.jd.com", "oauth_url": "https://open-oauth.jd.com", ...}}

`oauth_url` is where the platform serves OAuth (JD's token refresh is on its own host); without
it, `url`.

The stock ratios of all shops of all platforms add up to at most 1: together the channels
never promise more than the hub holds.

`Settings` are the shop connectors' settings (their database, the shops file, the poll interval,
each platform's gRPC port, the order service they ask whether the hub is behind), besides the
common settings of every process."""
from __future__ import annotations

import json
import os

from pydantic import Field, PositiveFloat

from hubkit.settings import HubSettings, Port, loopback, sqlite_in_var_dir

PLATFORMS = ("taobao", "jd")


class Settings(HubSettings):
    shops_db_url: str = Field(default_factory=sqlite_in_var_dir("shops"))
    shops_file: str = ""  # JSON with the shops, their credentials and SKU mappings
    shops_poll_seconds: PositiveFloat = 2.0
    shops_taobao_grpc_port: Port = 50061
    shops_jd_grpc_port: Port = 50062
    # backpressure: pulls pause while the order service says the hub is behind, asked at most this often
    order_grpc_port: Port = 50051
    order_grpc_target: str = Field(default_factory=loopback("order_grpc_port"))
    intake_refresh_seconds: PositiveFloat = 0.5

    @property
    def shops_grpc_ports(self) -> dict[str, int]:
        """platform -> the port of its connector's API."""
        return {p: getattr(self, f"shops_{p}_grpc_port") for p in PLATFORMS}


def load(path: str | None = None) -> dict:
    """{platform: (PlatformConfig, [Shop], {outer_sku: components})}; a clear error for a bad file."""
    from connectors.shops.platform import PlatformConfig, Shop

    path = path or os.environ.get("HUB_SHOPS_FILE")
    if not path:
        raise SystemExit("HUB_SHOPS_FILE is not set: it names the JSON file with the shops and their credentials")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    out, ratio = {}, 0.0
    for platform, section in data.items():
        if platform not in PLATFORMS:
            raise SystemExit(f"{path}: unknown platform {platform!r}; choose from {', '.join(PLATFORMS)}")
        try:
            cfg = PlatformConfig(url=section["url"], app_key=section["app_key"], app_secret=section["app_secret"],
                                 timeout_seconds=float(section.get("timeout_seconds", 5.0)),
                                 attempts=int(section.get("attempts", 6)),
                                 max_wait_seconds=float(section.get("max_wait_seconds", 10.0)),
                                 oauth_url=section.get("oauth_url") or section["url"])
            shops = [Shop(platform=platform, shop=s["shop"], access_token=s["access_token"],
                          refresh_token=s.get("refresh_token", ""), stock_ratio=float(s.get("stock_ratio", 0)),
                          safety_buffer=int(s.get("safety_buffer", 0)), seller=s.get("seller", ""))
                     for s in section["shops"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise SystemExit(f"{path}: {platform}: {type(exc).__name__} {exc}") from None
        ratio += sum(s.stock_ratio for s in shops)
        out[platform] = (cfg, shops, section.get("skus", {}))
    if ratio > 1.0 + 1e-9:
        raise SystemExit(f"{path}: the shops' stock ratios add up to {ratio:.2f}; at most 1 (never promise more "
                         "than the hub holds)")
    return out
