"""The notifier's delivery log (HUB_NOTIFY_FILE): each event's delivery to each target, with its
attempts and last answer; a failed delivery sent again once its cause is fixed."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from gateway.areas.notifications.schemas import Deliveries, Delivery
from gateway.common.access import ANYONE, allowed, clients
from gateway.common.presenters import scalars
from hubapi.notify.v1 import notify_service_pb2 as ntf

router = APIRouter(tags=["notifications"])
ADMIN = frozenset({"admin"})


@router.get("/notifications/deliveries", response_model=Deliveries)
def list_deliveries(request: Request, status: str = Query("", pattern=r"^(pending|delivered|failed)?$"),
                    target: str = Query("", max_length=64), event_type: str = Query("", max_length=64),
                    limit: int = Query(100, ge=1, le=1000), md=allowed(ANYONE)):
    """Newest first; `?status=failed` lists what did not reach its target, with the last error."""
    reply = clients(request).notify.ListDeliveries(ntf.ListDeliveriesRequest(
        status=status, target=target, event_type=event_type, limit=limit), metadata=md)
    return {"deliveries": [scalars(d) for d in reply.deliveries]}


@router.post("/notifications/deliveries/{event_id}/{target}/retry", response_model=Delivery)
def retry_delivery(event_id: str, target: str, request: Request, md=allowed(ADMIN)):
    """Send a failed delivery again (its attempts counted afresh); any other is a 409."""
    reply = clients(request).notify.RetryDelivery(ntf.RetryDeliveryRequest(event_id=event_id, target=target),
                                                  metadata=md)
    return scalars(reply.delivery)
