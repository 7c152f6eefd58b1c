"""The notifier's gRPC API, for the gateway: the delivery log, and a failed delivery sent again."""
from __future__ import annotations

from sqlalchemy import select, update

from connectors.notify import store
from hubapi.notify.v1 import notify_service_pb2 as pb
from hubapi.notify.v1 import notify_service_pb2_grpc as pb_grpc
from hubkit import clock, grpc_server
from hubkit.db import Database, as_utc, changed
from hubkit.errors import Conflict, FieldErrors, NotFound

rpc = grpc_server.rpc("notify")
STATUSES = (store.PENDING, store.DELIVERED, store.FAILED)


def _moment(value) -> str:
    return as_utc(value).isoformat() if value is not None else ""


def delivery_to_proto(row) -> pb.Delivery:
    return pb.Delivery(event_id=row.event_id, target=row.target, event_type=row.event_type,
                       aggregate_id=row.aggregate_id, status=row.status, attempts=row.attempts,
                       last_status=row.last_status or 0, last_error=row.last_error or "",
                       next_attempt_at=_moment(row.next_attempt_at), created_at=_moment(row.created_at),
                       delivered_at=_moment(row.delivered_at))


class NotifyServicer(pb_grpc.NotifyServiceServicer):
    def __init__(self, db: Database, wake=lambda: None):
        self.db, self.wake = db, wake  # wake: the notifier's loop sends what was re-sent at once

    def _rows(self, status="", target="", event_type="", event_id="", limit=100):
        d = store.deliveries
        query = select(d).order_by(d.c.created_at.desc(), d.c.event_id).limit(max(1, min(limit or 100, 1000)))
        for column, value in ((d.c.status, status), (d.c.target, target), (d.c.event_type, event_type),
                              (d.c.event_id, event_id)):
            if value:
                query = query.where(column == value)
        with self.db.reader() as s:
            return s.execute(query).all()

    @rpc
    def ListDeliveries(self, request, context):
        if request.status and request.status not in STATUSES:
            errors = FieldErrors()
            errors.add("status", f"one of {', '.join(STATUSES)}")
            errors.raise_if_any("unknown status")
        return pb.ListDeliveriesResponse(deliveries=[delivery_to_proto(r) for r in self._rows(
            request.status, request.target, request.event_type, limit=request.limit)])

    @rpc
    def RetryDelivery(self, request, context):
        """A failed delivery is pending again, due now, with its attempts counted afresh (the log keeps
        the last error until the next answer); any other is a Conflict that changes nothing."""
        d = store.deliveries
        with self.db.session() as s:
            before = s.execute(select(d.c.status).where(d.c.event_id == request.event_id,
                                                        d.c.target == request.target)).scalar()
            if before is None:
                raise NotFound(f"no delivery of event {request.event_id} to {request.target}")
            now = clock.now()
            if not changed(s, update(d).where(d.c.event_id == request.event_id, d.c.target == request.target,
                                              d.c.status == store.FAILED)
                           .values(status=store.PENDING, attempts=0, next_attempt_at=now, updated_at=now)):
                raise Conflict(f"the delivery is {before}; only a failed one is sent again")
        self.wake()
        [row] = self._rows(event_id=request.event_id, target=request.target)
        return pb.RetryDeliveryResponse(delivery=delivery_to_proto(row))
