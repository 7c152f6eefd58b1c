"""What every route needs: role checks that also carry the user to the services, the gRPC
clients, and the catalogue check on SKUs named in a body."""
from __future__ import annotations

from fastapi import Depends, Request

from gateway import idempotency
from gateway.errors import Problem
from hubkit.commands import COMMAND_KEY, REPLAY_ONLY_KEY, command_id
from hubkit.grpc_server import ACTOR_KEY, CORRELATION_KEY

ANYONE = frozenset({"warehouse", "sales", "purchasing", "finance", "admin", "dept_manager", "finance_director"})
# raise requisitions: any office role (approving is procurement's approval chain's to decide)
REQUESTERS = frozenset({"sales", "purchasing", "finance", "admin", "dept_manager", "finance_director", "warehouse"})
APPROVERS = ANYONE  # who may approve which step: the chain in force decides (services/procurement/chains.py)
SALES = frozenset({"sales", "admin"})
SHIPPING = frozenset({"warehouse", "admin"})
STOCK_KEEPING = frozenset({"warehouse", "purchasing", "admin"})
CATALOG = frozenset({"warehouse", "admin"})
PURCHASING = frozenset({"purchasing", "admin"})
RECEIVING = frozenset({"warehouse", "purchasing", "admin"})
CUSTOMERS = frozenset({"sales", "finance", "admin"})
FINANCE = frozenset({"finance", "admin"})  # also: closes a finance_approval hold
ORDER_DESK = frozenset({"sales", "finance", "admin"})  # holds, release, reject, cancel, address changes
STOCK_VALUE = frozenset({"warehouse", "purchasing", "finance", "admin"})
WAREHOUSE = frozenset({"warehouse", "admin"})  # floor work: scanning, moves, counts, transfers
REVIEW = frozenset({"sales", "finance", "admin"})  # review rule sets: read, validate, replay
# the sales KPIs (revenue, margin, customers' classes): the people who sell and those who answer for the numbers
KPIS = frozenset({"sales", "finance", "admin", "dept_manager", "finance_director"})
RULES = frozenset({"admin"})  # a rule set in force changes what every order goes through


def allowed(roles: frozenset):
    """Refuse other roles (403); give the route the call metadata naming the user, and for a POST
    with an Idempotency-Key the command id the services answer once (hubkit.commands). A coroutine,
    so that FastAPI runs it on the event loop instead of handing it to a worker thread."""
    async def check(request: Request):
        user = request.state.user
        if user.role not in roles:
            raise Problem(403, "forbidden", f"role {user.role!r} may not do this")
        md = [(ACTOR_KEY, user.name), (CORRELATION_KEY, request.state.correlation_id)]
        key = request.headers.get(idempotency.HEADER)
        if request.method == "POST" and key:
            md.append((COMMAND_KEY, command_id(user.name, key)))
        return md
    return Depends(check)


def clients(request: Request):
    return request.app.state.clients


def first_reply(call, message, md):
    """For a command sent again with its Idempotency-Key: the reply its service gave the first time,
    or None when it was not applied. Asked before a route's own checks, which a command already
    applied may no longer pass (its goods have left)."""
    if not any(name == COMMAND_KEY for name, _ in md):
        return None
    reply = call(message, metadata=[*md, (REPLAY_ONLY_KEY, "1")])
    return reply if reply.ByteSize() else None


def exchange_rate_for(request: Request, currency: str, md) -> str:
    """Accounting keeps the exchange rates: a document in another currency than the books' is accepted
    at its currency's rate of the day, or refused when the hub has none (accounting's 422 names
    `currency`; nothing is written). "" for the books' own currency."""
    from hubapi.accounting.v1 import accounting_service_pb2 as acc

    if currency == request.app.state.base_currency:
        return ""
    return clients(request).accounting.GetExchangeRate(acc.GetExchangeRateRequest(currency=currency),
                                                       metadata=md).rate.rate


MAX_KNOWN_SKUS = 100_000  # the SKUs a gateway remembers inventory knows (forgotten all at once beyond)


def known_skus(request: Request, skus, md) -> set[str]:
    """Which of `skus` inventory, which owns the catalogue, knows. Its catalogue never deletes a SKU, so
    one it named once stays known: those are remembered per gateway process (app.state.known_skus) and
    only the others are asked (each time: a SKU created meanwhile is known at once)."""
    from hubapi.inventory.v1 import inventory_service_pb2 as inv

    wanted = set(skus)
    remembered: set[str] | None = getattr(request.app.state, "known_skus", None)
    ask = wanted - remembered if remembered is not None else wanted
    if not ask:
        return wanted
    found = {s.code for s in clients(request).inventory.GetSkus(inv.GetSkusRequest(codes=sorted(ask)),
                                                                metadata=md).skus}
    if remembered is not None:
        if len(remembered) + len(found) > MAX_KNOWN_SKUS:
            remembered.clear()
        remembered |= found
    return (wanted - ask) | found


def require_known_skus(request: Request, skus: list[str], md, field: str = "lines",
                       known: set[str] | None = None) -> None:
    """Refuse lines naming SKUs inventory does not know (`known`: asked already, for a whole batch)."""
    if known is None:
        known = known_skus(request, skus, md)
    unknown = [{"field": f"{field}[{i}].sku", "message": f"unknown SKU {sku!r}"}
               for i, sku in enumerate(skus) if sku not in known]
    if unknown:
        raise Problem(422, "invalid-argument", "unknown SKUs", unknown)
