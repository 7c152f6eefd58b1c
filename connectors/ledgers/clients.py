"""HTTP clients of the external ledgers (httpx + tenacity). Each push ends in one outcome the
pusher can act on without guessing:

- Confirmed(ref): the ledger holds the voucher.
- Rejected(message): the ledger refused it for a reason a person must fix; never retried blindly.
- RetryLater(message): refused before storing anything (rate limit, session trouble): send again.
- Ambiguous(message): no answer (timeout, 5xx, broken connection): it may or may not be stored.

What the pusher does after an ambiguous push, and what reconciliation reads, depends on what each
ledger's API documents (docs/EXTERNAL_APIS.md), stated by two class attributes:

- idempotent_save: a repeated save under the same key is answered with the voucher already held
  (U8 biz_id), so sending again is how an ambiguous push is resolved. Otherwise (Kingdee) the
  voucher is looked up with find() before anything is sent again.
- reads_vouchers: the ledger can be asked for a period's vouchers (vouchers_for_period).

A client with a batch save (batch_size > 0: Kingdee BatchSave) also has push_many, which sends
up to batch_size vouchers in one call and answers one Outcome per voucher: the ledger's answer
names each item, so some can be confirmed while others are refused; a call without an answer is
ambiguous for every voucher in it.
"""
from __future__ import annotations

import calendar
import logging
import re
import time
from dataclasses import dataclass

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from connectors.ledgers import mapping

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    kind: str  # confirmed | rejected | retry | ambiguous
    ref: str = ""
    message: str = ""


def confirmed(ref): return Outcome("confirmed", ref=str(ref))
def rejected(msg): return Outcome("rejected", message=str(msg)[:500])
def retry_later(msg): return Outcome("retry", message=str(msg)[:500])
def ambiguous(msg): return Outcome("ambiguous", message=str(msg)[:500])


class Unavailable(Exception):
    """The ledger could not be asked (for a look-up): try again later."""


class _SessionLost(Exception):
    pass


class _RateLimited(Exception):
    pass


# Transient refusals that stored nothing are retried a few times at once, with jittered back-off;
# beyond that the pusher's own schedule takes over.
_transient = retry(retry=retry_if_exception_type((_SessionLost, _RateLimited)),
                   wait=wait_random_exponential(multiplier=0.2, max=2), stop=stop_after_attempt(3), reraise=True)


def _send(save):
    """(reply, body) from a save call, or the Outcome when it got no usable answer: refused before
    anything was stored (retry) or no answer at all (ambiguous)."""
    try:
        reply, body = save()
    except (_SessionLost, _RateLimited, Unavailable) as exc:
        return retry_later(exc)
    except httpx.HTTPError as exc:
        return ambiguous(f"{type(exc).__name__}: {exc}")
    if reply.status_code >= 500:
        return ambiguous(f"HTTP {reply.status_code}")
    return reply, body


def _sqlserver_like_literal(text: str) -> str:
    """Kingdee's FilterString is SQL Server: [ % _ inside LIKE must be bracketed to match literally."""
    return re.sub(r"([\[%_])", r"[\1]", text)


class KingdeeClient:
    """K/3 Cloud WebAPI: LoginByAppSecret session, GL_VOUCHER Save, ExecuteBillQuery look-ups."""

    idempotent_save = False  # ValidateRepeatJson catches only an identical payload
    reads_vouchers = True
    batch_size = 100  # Models per BatchSave call

    SVC = "Kingdee.BOS.WebApi.ServicesStub."
    QUERY_PAGE = 2000  # rows per ExecuteBillQuery call: a period's vouchers are read page by page

    def __init__(self, config, transport=None):
        self.config = config
        base = config.url.rstrip("/") + "/"
        self.http = httpx.Client(base_url=base, timeout=config.timeout_seconds, transport=transport)
        self.session_id = ""

    def close(self):
        self.http.close()

    def _login(self):
        c = self.config
        reply = self.http.post(self.SVC + "AuthService.LoginByAppSecret.common.kdsvc",
                               json={"parameters": [c.acct_id, c.user_name, c.app_id, c.app_secret, c.lcid]})
        body = reply.json()
        if reply.status_code != 200 or body.get("LoginResultType") != 1:
            raise Unavailable(f"Kingdee login refused: {body.get('Message') or reply.status_code}")
        self.session_id = body.get("KDSVCSessionId") or body.get("Context", {}).get("SessionId", "")

    def _post(self, service: str, body: bytes):
        if not self.session_id:
            self._login()
        return self.http.post(self.SVC + service, content=body,
                              headers={"content-type": "application/json", "kdservice-sessionid": self.session_id})

    @staticmethod
    def _status(body) -> dict:
        if isinstance(body, list):  # query errors come wrapped in rows
            body = body[0][0] if body and body[0] and isinstance(body[0][0], dict) else {}
        return (body.get("Result") or {}).get("ResponseStatus") or {}

    def _raise_transient(self, status: dict):
        code = int(status.get("MsgCode") or 0)
        if code == 1:
            self.session_id = ""
            raise _SessionLost(self._message(status))
        if code == 14:
            raise _RateLimited(self._message(status))

    @staticmethod
    def _message(status: dict) -> str:
        return "; ".join(e.get("Message", "") for e in status.get("Errors") or []) or f"MsgCode {status.get('MsgCode')}"

    @_transient
    def _save(self, payload: bytes):
        reply = self._post("DynamicFormService.Save.common.kdsvc", payload)
        if reply.status_code >= 500:
            return reply, {}
        status = self._status(reply.json())
        if str(status.get("IsSuccess")).lower() != "true":
            self._raise_transient(status)
        return reply, status

    @_transient
    def _batch_save(self, payload: bytes):
        reply = self._post("DynamicFormService.BatchSave.common.kdsvc", payload)
        if reply.status_code >= 500:
            return reply, {}
        status = self._status(reply.json())
        if str(status.get("IsSuccess")).lower() != "true" and not status.get("SuccessEntitys"):
            self._raise_transient(status)  # a refusal of the whole call (session, rate limit) stored nothing
        return reply, status

    def push_many(self, vouchers: list[dict], accounts: dict) -> list[Outcome]:
        """BatchSave: the vouchers in one call; one Outcome per voucher, in order. The answer
        names every item by its index (DIndex): saved ones in SuccessEntitys, refused ones in Errors."""
        models = [mapping.kingdee_model(v, accounts, self.config.account_book) for v in vouchers]
        payload = mapping.to_json({"formid": "GL_VOUCHER", "data": {
            "Model": models, "BatchCount": 1, "ValidateRepeatJson": "true"}})
        answer = _send(lambda: self._batch_save(payload))
        if isinstance(answer, Outcome):
            return [answer] * len(vouchers)
        _reply, status = answer
        saved = {int(e.get("DIndex") or 0): e for e in status.get("SuccessEntitys") or []}
        refused: dict[int, list[str]] = {}
        for error in status.get("Errors") or []:
            refused.setdefault(int(error.get("DIndex") or 0), []).append(error.get("Message", ""))
        whole_call = not saved and int(status.get("MsgCode") or 0) != 11  # a request error, not per item
        outcomes = []
        for i in range(len(vouchers)):
            if i in saved:
                outcomes.append(confirmed(f"{saved[i].get('Id')}/{saved[i].get('Number')}"))
            elif i in refused or whole_call:
                message = "; ".join(refused.get(i) or [self._message(status)])
                # ValidateRepeatJson: this very payload is stored already; the look-up settles it
                outcomes.append(ambiguous(f"ledger says repeated: {message}") if "重复" in message
                                else rejected(message))
            else:  # the answer does not mention it: it may or may not be stored
                outcomes.append(ambiguous("the ledger's answer names neither a save nor an error for it"))
        return outcomes

    def push(self, voucher: dict, accounts: dict) -> Outcome:
        model = mapping.kingdee_model(voucher, accounts, self.config.account_book)
        payload = mapping.to_json({"formid": "GL_VOUCHER", "data": {"Model": model, "ValidateRepeatJson": "true"}})
        answer = _send(lambda: self._save(payload))
        if isinstance(answer, Outcome):
            return answer
        reply, status = answer
        if str(status.get("IsSuccess")).lower() == "true":
            result = reply.json()["Result"]
            return confirmed(f"{result.get('Id')}/{result.get('Number')}")
        message = self._message(status)
        if "重复" in message:  # ValidateRepeatJson: this very payload is stored already
            return ambiguous(f"ledger says repeated: {message}")
        return rejected(message)

    def _query(self, filter_string: str, limit: int = 0) -> list:
        """Every row matching (or the first `limit`), read in pages ordered by voucher and entry,
        so a page boundary neither skips nor repeats a row."""
        rows: list = []
        while True:
            size = min(self.QUERY_PAGE, limit - len(rows)) if limit else self.QUERY_PAGE
            page = self._query_page(filter_string, len(rows), size)
            rows.extend(page)
            if len(page) < size or (limit and len(rows) >= limit):
                return rows

    @_transient
    def _query_page(self, filter_string: str, start: int, size: int) -> list:
        body = mapping.to_json({"data": {"FormId": "GL_VOUCHER",
                                         "FieldKeys": "FVOUCHERID,FBillNo,FDate,FEXPLANATION,FACCOUNTID.FNumber,FDEBIT,FCREDIT",
                                         "FilterString": filter_string, "OrderString": "FVOUCHERID ASC,FEntity_FEntryID ASC",
                                         "StartRow": start, "Limit": size}})
        reply = self._post("DynamicFormService.ExecuteBillQuery.common.kdsvc", body)
        if reply.status_code != 200:
            raise Unavailable(f"Kingdee query answered HTTP {reply.status_code}")
        rows = reply.json()
        status = self._status(rows)
        if status:
            self._raise_transient(status)
            raise Unavailable(f"Kingdee query refused: {self._message(status)}")
        return rows

    def find(self, external_number: str) -> str | None:
        """The ledger's reference of the voucher carrying this external number, if it has one."""
        try:
            rows = self._query(f"FEXPLANATION like '{_sqlserver_like_literal(f'[{external_number}]')}%'", limit=1)
        except (httpx.HTTPError, _SessionLost, _RateLimited) as exc:
            raise Unavailable(str(exc)) from exc
        return f"{rows[0][0]}/{rows[0][1]}" if rows else None

    def vouchers_for_period(self, period: str) -> list[dict]:
        """Every voucher of the period as {ref, external_number, lines: [{account, debit, credit}]}."""
        year, month = map(int, period.split("-"))
        start, end = f"{period}-01", f"{period}-{calendar.monthrange(year, month)[1]:02d}"
        rows = self._query(f"FDate >= '{start}' and FDate <= '{end}'")
        found: dict[str, dict] = {}
        for vid, number, _date, explanation, account, debit, credit in rows:
            tag = re.match(r"^\[([^\]]+)\]", explanation or "")
            v = found.setdefault(f"{vid}/{number}", {"ref": f"{vid}/{number}",
                                                     "external_number": tag.group(1) if tag else "", "lines": []})
            v["lines"].append({"account": account, "debit": str(debit), "credit": str(credit)})
        return list(found.values())


class UfidaClient:
    """U8 OpenAPI, only the documented calls (docs/EXTERNAL_APIS.md section 4.1): token, and
    voucher/add with biz_id = reserve2 = the external number. biz_id is U8's idempotency key, so an
    add repeated after no answer is answered with the voucher U8 holds; the OpenAPI documents no
    call that reads a voucher back, so there is no look-up and no period read."""

    idempotent_save = True
    reads_vouchers = False
    batch_size = 0  # voucher/add takes one voucher
    TOKEN_EXPIRED = "参数token已过期"
    # a refusal saying a voucher is in U8 already (no errcode table exists, so by its words), and
    # the voucher id it names, if any
    DUPLICATE_WORDS = ("已存在", "重复")
    NAMED_ID = re.compile(r"凭证id\s*[:：]?\s*([0-9A-Za-z_-]+)", re.IGNORECASE)

    def __init__(self, config, transport=None):
        self.config = config
        self.http = httpx.Client(base_url=config.url.rstrip("/"), timeout=config.timeout_seconds, transport=transport)
        self.token, self.token_until = "", 0.0

    def close(self):
        self.http.close()

    def _token(self) -> str:
        if not self.token or time.monotonic() > self.token_until:
            c = self.config
            body = self.http.get("/system/token", params={"from_account": c.from_account, "app_key": c.app_key,
                                                          "app_secret": c.app_secret}).json()
            if str(body.get("errcode")) != "0":
                raise Unavailable(f"U8 token refused: {body.get('errmsg')}")
            self.token = body["token"]["id"]
            # refresh five minutes early, as the vendor's own SDK does
            self.token_until = time.monotonic() + int(body["token"].get("expiresIn", 7200)) - 300
        return self.token

    def _params(self, **extra) -> dict:
        c = self.config
        return {"from_account": c.from_account, "to_account": c.to_account, "app_key": c.app_key,
                "token": self._token(), **extra}

    def _check(self, body: dict) -> dict:
        code, message = str(body.get("errcode")), str(body.get("errmsg") or "")
        if code != "0" and self.TOKEN_EXPIRED in message:
            self.token = ""
            raise _SessionLost(message)
        if code != "0" and ("频繁" in message or "too many" in message.lower() or code == "40009"):
            raise _RateLimited(message)
        return body

    @_transient
    def _add(self, payload: bytes, external_number: str):
        reply = self.http.post("/api/voucher/add", params=self._params(biz_id=external_number, sync=1),
                               content=payload, headers={"content-type": "application/json"})
        return reply, (self._check(reply.json()) if reply.status_code < 500 else {})

    def push(self, voucher: dict, accounts: dict) -> Outcome:
        external = mapping.external_number(voucher)
        payload = mapping.to_json(mapping.ufida_voucher(voucher, accounts, self.config.maker))
        answer = _send(lambda: self._add(payload, external))
        if isinstance(answer, Outcome):
            return answer
        reply, body = answer
        if str(body.get("errcode")) == "0":  # stored now, or the answer to a repeated biz_id
            return confirmed(body.get("id"))
        message = str(body.get("errmsg") or "")
        named = self.NAMED_ID.search(message)
        if any(word in message for word in self.DUPLICATE_WORDS) and (named or external in message):
            # U8 holds this very voucher (its biz_id and reserve2 are the external number): certain,
            # so it is never sent again. Its id when the message names one, else reserve2, by which
            # U8 itself addresses such a voucher (voucher/cancel takes it as id). A duplicate refusal
            # that names neither is not taken on trust: it is listed for a person like any refusal.
            return confirmed(named.group(1) if named else f"reserve2:{external}")
        return rejected(f"{body.get('errcode')}: {message}")


CLIENTS = {"kingdee": KingdeeClient, "ufida": UfidaClient}


def make(ledger: str, config):
    return CLIENTS[ledger](config)
