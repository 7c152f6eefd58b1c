"""The notifier's settings and its targets. The targets (where to tell whom of what) are a JSON file
named by HUB_NOTIFY_FILE, kept out of the repository (it holds the robots' keys and secrets):

{"targets": [
  {"name": "ops-json", "url": "https://ops.example.com/hooks/hub", "format": "json", "secret": "...",
   "events": ["order_held", "low_stock"]},
  {"name": "ops-wecom", "format": "wecom", "events": ["order_held"],
   "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."},
  {"name": "buyers-dingtalk", "format": "dingtalk", "secret": "SEC...", "events": ["low_stock"],
   "url": "https://oapi.dingtalk.com/robot/send?access_token=..."}]}

Per target: a name (its key in the delivery log), the URL, the format (json: the event signed with
HMAC-SHA256 in a header; wecom and dingtalk: a group robot's markdown message, see
connectors/notify/formats.py), a secret (json: the HMAC key, required; dingtalk: the robot's 加签
secret, optional; wecom: none, the key is in the URL), the event types it wants, and optionally
timeout_seconds and max_attempts. Without HUB_NOTIFY_FILE the hub has no notifier: no process, no
queue."""
from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import Field, PositiveFloat

from hubkit.settings import HubSettings, Port, sqlite_in_var_dir

FORMATS = ("json", "wecom", "dingtalk")
# the events a target may subscribe to: those whose contract names the notifier as a subscriber
EVENT_TYPES = ("order_held", "low_stock", "approval_waiting")


class Settings(HubSettings):
    notify_file: str = ""  # JSON with the notification targets; none: no notifier
    notify_db_url: str = Field(default_factory=sqlite_in_var_dir("notify"))
    notify_grpc_port: Port = 50063  # the delivery log, for the gateway
    # a failed delivery is tried again after base * 2^(attempts-1) seconds, at most max
    notify_retry_base_seconds: PositiveFloat = 2.0
    notify_retry_max_seconds: PositiveFloat = 600.0


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    format: str
    events: tuple[str, ...]
    secret: str = ""
    timeout_seconds: float = 5.0
    max_attempts: int = 10


class TargetsError(ValueError):
    """The targets file does not make sense: one line naming what is wrong."""


def parse(data, where: str = "HUB_NOTIFY_FILE") -> dict[str, Target]:
    """{name: Target} from the file's content; TargetsError for anything that does not fit."""
    if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
        raise TargetsError(f"{where}: expected an object with a list \"targets\"")
    out: dict[str, Target] = {}
    for i, t in enumerate(data["targets"]):
        at = f"{where}: targets[{i}]"
        if not isinstance(t, dict):
            raise TargetsError(f"{at}: expected an object")
        unknown = set(t) - {"name", "url", "format", "events", "secret", "timeout_seconds", "max_attempts"}
        if unknown:
            raise TargetsError(f"{at}: unknown keys {', '.join(sorted(unknown))}")
        name, url, fmt = t.get("name"), t.get("url"), t.get("format", "json")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise TargetsError(f"{at}: name: a text of 1 to 64 characters")
        if name in out:
            raise TargetsError(f"{at}: name {name!r} twice")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise TargetsError(f"{at} ({name}): url: an http(s) URL")
        if fmt not in FORMATS:
            raise TargetsError(f"{at} ({name}): format: one of {', '.join(FORMATS)} (got {fmt!r})")
        events = t.get("events")
        if not isinstance(events, list) or not events or any(e not in EVENT_TYPES for e in events):
            raise TargetsError(f"{at} ({name}): events: a non-empty list of {', '.join(EVENT_TYPES)}")
        secret = t.get("secret", "")
        if not isinstance(secret, str):
            raise TargetsError(f"{at} ({name}): secret: a text")
        if fmt == "json" and not secret:
            raise TargetsError(f"{at} ({name}): a json target needs a secret (its messages are signed with it)")
        try:
            timeout, attempts = float(t.get("timeout_seconds", 5.0)), int(t.get("max_attempts", 10))
        except (TypeError, ValueError):
            raise TargetsError(f"{at} ({name}): timeout_seconds and max_attempts: numbers") from None
        if timeout <= 0 or attempts < 1:
            raise TargetsError(f"{at} ({name}): timeout_seconds > 0 and max_attempts >= 1")
        out[name] = Target(name=name, url=url, format=fmt, events=tuple(dict.fromkeys(events)), secret=secret,
                           timeout_seconds=timeout, max_attempts=attempts)
    return out


def load(path: str) -> dict[str, Target]:
    """The targets of HUB_NOTIFY_FILE (none without it); SystemExit with one line for a bad file."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            return parse(json.load(f), path)
    except OSError as exc:
        raise SystemExit(f"HUB_NOTIFY_FILE: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:  # TargetsError, or not JSON
        raise SystemExit(f"{exc}" if isinstance(exc, TargetsError) else f"{path}: not JSON ({exc})") from None


def wanted(targets: dict[str, Target]) -> set[str]:
    """The event types some target wants: the notifier's subscriptions."""
    return {e for t in targets.values() for e in t.events}
