"""What every shop platform client shares: httpx, retries of transient failures with jittered
back-off (tenacity), waiting out rate limits, renewing expired tokens, counting every call."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import Decimal

import httpx
from prometheus_client import Counter
from tenacity import RetryCallState, retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

log = logging.getLogger(__name__)

API_CALLS = Counter("hub_shop_api_calls_total", "Platform API calls by result", ["platform", "method", "result"])
RATE_LIMIT_WAITS = Counter("hub_shop_rate_limit_waits_total", "Waits imposed by platform rate limits", ["platform"])


class PlatformError(Exception):
    """The platform refused the call for good: not retried (shown in the shop's error state)."""


class Transient(PlatformError):
    """Worth another try: 5xx, timeouts, the platform's own remote errors."""


class RateLimited(Transient):
    def __init__(self, message: str, wait_seconds: float = 1.0):
        super().__init__(message)
        self.wait_seconds = wait_seconds


class TokenExpired(PlatformError):
    pass


@dataclass(frozen=True)
class PlatformConfig:
    url: str
    app_key: str
    app_secret: str
    timeout_seconds: float = 5.0
    attempts: int = 6        # per call, before the shop goes into its error state
    max_wait_seconds: float = 10.0
    oauth_url: str = ""      # where the platform serves OAuth, if not at `url` (JD: https://open-oauth.jd.com)


@dataclass(frozen=True)
class Shop:
    platform: str
    shop: str
    access_token: str
    refresh_token: str = ""
    stock_ratio: float = 0.0     # share of the hub's available stock this shop may sell
    safety_buffer: int = 0       # units held back before the ratio applies
    seller: str = ""             # the platform's seller nick / vender id


READS_PER_WINDOW = 5  # a window whose pages shifted while read is read again, up to this many times


class PlatformClient:
    platform = ""
    # the platform takes one shipment per order, naming every parcel's waybill in it (JD POP): the
    # parcels of a partial shipment wait and are confirmed together with the order's last one
    ships_once = False

    def __init__(self, config: PlatformConfig, tokens, transport=None):
        """`tokens`: where the latest token pair of each shop is kept (get(shop), save(shop, access, refresh))."""
        self.config, self.tokens = config, tokens
        self.http = httpx.Client(base_url=config.url.rstrip("/"), timeout=config.timeout_seconds, transport=transport)

    def close(self):
        self.http.close()

    def token(self, shop: Shop) -> str:
        return (self.tokens.get(shop) or (shop.access_token, shop.refresh_token))[0]

    def refresh_token_of(self, shop: Shop) -> str:
        return (self.tokens.get(shop) or (shop.access_token, shop.refresh_token))[1]

    def refresh(self, shop: Shop) -> tuple[str, str]:
        raise NotImplementedError

    def push_stock(self, shop: Shop, platform_ref: str, quantity: int) -> None:
        raise NotImplementedError

    def push_stocks(self, shop: Shop, quantities: list[tuple[str, int]]) -> list[PlatformError | None]:
        """Several quantities of one shop, (platform ref, quantity) each; per quantity None (sent) or the
        error that kept it. One call each, where the platform takes none together."""
        outcomes: list[PlatformError | None] = []
        for ref, quantity in quantities:
            try:
                self.push_stock(shop, ref, quantity)
                outcomes.append(None)
            except PlatformError as exc:
                outcomes.append(exc)
        return outcomes

    def read_while_shifting(self, read, what: str = "") -> list:
        """Everything a paged read of one window finds, newest version of each. Pages can shift while
        they are read (a record modified meanwhile moves), so the window is read again until one pass
        saw as many distinct records as the platform counted. `read()` -> ({id: record}, count)."""
        seen: dict = {}
        for _ in range(READS_PER_WINDOW):
            found, total = read()
            for key, record in found.items():
                if key not in seen or seen[key].modified < record.modified:
                    seen[key] = record
            if len(found) >= total:
                return list(seen.values())
        raise Transient(f"{what}pages kept shifting while the window was read")

    def _call(self, shop: Shop, method: str, business: dict) -> dict:
        raise NotImplementedError

    def call(self, shop: Shop, method: str, business: dict) -> dict:
        """One API call, retried while the failure is transient; a token that expired is renewed once."""
        retrying = retry(retry=retry_if_exception_type(Transient), wait=self._wait,
                         stop=stop_after_attempt(self.config.attempts), reraise=True)
        try:
            return retrying(self._counted)(shop, method, business)
        except TokenExpired:
            access, refresh = self.refresh(shop)
            self.tokens.save(shop, access, refresh)
            log.info("%s %s: access token renewed", self.platform, shop.shop)
            return retrying(self._counted)(shop, method, business)

    def _wait(self, state: RetryCallState) -> float:
        """A rate limit says how long to wait; other transient failures back off with jitter."""
        exc = state.outcome.exception()
        if isinstance(exc, RateLimited):
            RATE_LIMIT_WAITS.labels(self.platform).inc()
            return min(exc.wait_seconds, self.config.max_wait_seconds)
        return wait_random_exponential(multiplier=0.2, max=self.config.max_wait_seconds)(state)

    def _counted(self, shop: Shop, method: str, business: dict) -> dict:
        try:
            body = self._call(shop, method, business)
        except RateLimited:
            API_CALLS.labels(self.platform, method, "rate_limited").inc()
            raise
        except Transient:
            API_CALLS.labels(self.platform, method, "transient").inc()
            raise
        except PlatformError:
            API_CALLS.labels(self.platform, method, "refused").inc()
            raise
        API_CALLS.labels(self.platform, method, "ok").inc()
        return body

    def _http(self, verb: str, path: str, **kwargs) -> dict:
        try:
            reply = self.http.request(verb, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Transient(f"{type(exc).__name__}: {exc}") from exc
        if reply.status_code >= 500:
            raise Transient(f"HTTP {reply.status_code}")
        try:  # amounts may come as JSON numbers: read them as Decimal from the text, never via float
            return json.loads(reply.content, parse_float=Decimal)
        except ValueError:
            raise Transient(f"HTTP {reply.status_code}: not JSON") from None

    def post(self, path: str, **kwargs) -> dict:
        return self._http("POST", path, **kwargs)

    def get(self, path: str, **kwargs) -> dict:
        return self._http("GET", path, **kwargs)
