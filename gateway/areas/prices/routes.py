"""Sales price lists (the order service's, services/order/prices.py): replace one whole, read them, and
ask the price that applies to a SKU for a channel, tier, quantity and day, with the reason."""
from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request

from gateway.areas.prices.schemas import PriceAnswer, PriceList, PriceListIn, PriceLists
from gateway.common.access import ORDER_DESK, SALES, allowed, clients, require_known_skus
from gateway.common.presenters import money_str
from gateway.common.schemas import CODE, OPT_DAY
from hubapi.order.v1 import order_service_pb2 as pb
from hubkit import money

router = APIRouter(tags=["price lists"])


def _list(p, with_lines: bool, changed: bool | None = None) -> dict:
    return {"code": p.code, "name": p.name, "currency": p.currency, "channel": p.channel or None,
            "tier": p.tier or None, "valid_from": p.valid_from or None, "valid_to": p.valid_to or None,
            "updated_by": p.updated_by, "updated_at": p.updated_at,
            "lines": [{"sku": l.sku, "unit_price": money_str(l.unit_price), "min_quantity": l.min_quantity}
                      for l in p.lines] if with_lines else None, "changed": changed}


@router.get("/price-lists/price", response_model=PriceAnswer)
def price(request: Request, sku: str = Query(..., pattern=CODE), channel: str = Query("", max_length=32),
          tier: str = Query("", max_length=32), quantity: int = Query(1, ge=1, le=1_000_000_000),
          on: str = Query("", pattern=OPT_DAY, description="YYYY-MM-DD; empty: today"), md=allowed(ORDER_DESK)):
    """The unit price that applies and why: the most specific list in force that day (tier and channel
    over channel over tier over none), then its line with the highest minimum quantity not above `quantity`."""
    r = clients(request).order.GetPrice(pb.GetPriceRequest(sku=sku, channel=channel, tier=tier, quantity=quantity,
                                                            on=on), metadata=md)
    return {"found": r.found, "unit_price": money_str(r.unit_price) if r.found else None,
            "currency": r.unit_price.currency_code if r.found else None, "price_list": r.price_list or None,
            "price_list_name": r.price_list_name or None, "min_quantity": r.min_quantity if r.found else None,
            "scope": r.scope or None, "explanation": r.explanation, "considered": list(r.considered)}


@router.get("/price-lists", response_model=PriceLists)
def price_lists(request: Request, md=allowed(ORDER_DESK)):
    """Every price list, without its lines."""
    reply = clients(request).order.ListPriceLists(pb.ListPriceListsRequest(), metadata=md)
    return {"price_lists": [_list(p, False) for p in reply.price_lists]}


@router.get("/price-lists/{code}", response_model=PriceList)
def price_list(request: Request, code: str = Path(pattern=CODE), md=allowed(ORDER_DESK)):
    reply = clients(request).order.GetPriceList(pb.GetPriceListRequest(code=code), metadata=md)
    return _list(reply.price_list, True)


@router.put("/price-lists/{code}", response_model=PriceList)
def put_price_list(body: PriceListIn, request: Request, code: str = Path(pattern=CODE), md=allowed(SALES)):
    """Replace the list `code` whole (created when new); every line's SKU must be known to inventory.
    A 422 names each field at fault (lines[i].unit_price); nothing changes then."""
    require_known_skus(request, [l.sku for l in body.lines], md)
    reply = clients(request).order.PutPriceList(pb.PriceList(
        code=code, name=body.name, currency=body.currency, channel=body.channel, tier=body.tier,
        valid_from=body.valid_from, valid_to=body.valid_to,
        lines=[pb.PriceListLine(sku=l.sku, unit_price=money.to_proto(l.unit_price, body.currency or "CNY"),
                                min_quantity=l.min_quantity) for l in body.lines]), metadata=md)
    return _list(reply.price_list, True, reply.changed)
