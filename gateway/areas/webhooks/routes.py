"""Storefronts push their orders here, signed, instead of being pulled."""
from __future__ import annotations

from fastapi import APIRouter, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from gateway import intake
from gateway.areas.webhooks.schemas import StorefrontOrderIn, StorefrontOutcome
from gateway.common.access import clients, exchange_rate_for, require_known_skus
from gateway.common.presenters import order_json
from hubapi.order.v1 import order_service_pb2 as ordpb
from hubkit import money
from hubkit.grpc_server import ACTOR_KEY, CORRELATION_KEY

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/storefront/{storefront}", response_model=StorefrontOutcome, responses=intake.REFUSED)
async def storefront_order(storefront: str, request: Request, x_hub_timestamp: str = Header(""),
                           x_hub_signature: str = Header("")):
    """An order as the storefront has it now. Signed: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of
    "<X-Hub-Timestamp>.<raw body>" with the storefront's secret>`. The newest `version` wins. While the
    hub is behind, a delivery that may place an order (any status but awaiting_payment and cancelled)
    gets 429 with Retry-After and is not recorded: send it again then."""
    body = await request.body()
    verifier = request.app.state.webhooks
    sig = verifier.verify(storefront, x_hub_timestamp, x_hub_signature, body)
    try:
        order = StorefrontOrderIn.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    if order.status not in intake.NEVER_REFUSED_CHANNEL_STATUSES:  # it may place an order: not while behind
        await intake.admit(request)
    md = [(ACTOR_KEY, f"storefront:{storefront}"), (CORRELATION_KEY, request.state.correlation_id)]

    def apply():
        require_known_skus(request, [l.sku for l in order.lines], md)
        rate = exchange_rate_for(request, order.currency, md)
        return clients(request).order.ApplyChannelOrder(ordpb.ApplyChannelOrderRequest(
            version=order.version, status=order.status, order=ordpb.PlaceOrderRequest(
                channel="storefront", shop=storefront, external_order_id=order.external_order_id, exchange_rate=rate,
                ship_by=order.ship_by, buyer_message=order.buyer_message,
                buyer=ordpb.Buyer(**order.buyer.model_dump()),
                shipping_address=ordpb.Address(**order.shipping_address.model_dump()),
                lines=[ordpb.OrderLineInput(sku=l.sku, quantity=l.quantity,
                                            unit_price=money.to_proto(l.unit_price, order.currency),
                                            **({"amount": money.to_proto(l.amount, order.currency)} if l.amount else {}))
                       for l in order.lines])), metadata=md)
    reply = await run_in_threadpool(apply)
    await run_in_threadpool(verifier.accepted, storefront, sig)
    return {"outcome": reply.outcome, "order": order_json(reply.order) if reply.order.id else None}
