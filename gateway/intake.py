"""Backpressure at the gateway (hubkit.intake): while the order service says the hub is behind, the
routes that take new orders in answer 429 with Retry-After, before any other work; reads, shipments,
returns, cancellations and everything else go on. The state is asked at most every
HUB_INTAKE_REFRESH_SECONDS and kept; when the order service cannot be asked, intake stays open."""
from __future__ import annotations

from fastapi import Request
from prometheus_client import Gauge
from starlette.concurrency import run_in_threadpool

from gateway.errors import Problem
from hubapi.order.v1 import order_service_pb2 as ordpb
from hubkit.intake import IntakeGate, IntakeState

ASK_TIMEOUT_SECONDS = 1.0
REFUSING = Gauge("hub_intake_refusing", "1 while the gateway refuses new orders because the hub is behind")
# what a route that takes new orders in declares (gateway.openapi documents it as problem+json with Retry-After)
REFUSED = {429: {"description": "The hub is behind: send the order again after Retry-After seconds"}}
# storefront deliveries that are taken whatever the backlog: they place no order to wait for inventory
NEVER_REFUSED_CHANNEL_STATUSES = ("awaiting_payment", "cancelled")


def gate(clients, refresh_seconds: float) -> IntakeGate:
    """The gateway's view of the hub's intake state, asked from the order service."""
    def ask() -> IntakeState:
        reply = clients.order.GetIntake(ordpb.GetIntakeRequest(), timeout=ASK_TIMEOUT_SECONDS)
        return IntakeState(reply.behind, reply.waiting, reply.oldest_seconds, reply.retry_after_seconds)
    return IntakeGate(ask, refresh_seconds, report=lambda state: REFUSING.set(int(state.behind)))


async def admit(request: Request) -> None:
    """A dependency of the routes that take new orders in: 429 with Retry-After while the hub is behind.
    The kept answer costs nothing; asking again happens off the event loop."""
    intake: IntakeGate = request.app.state.intake
    state = intake.last() if intake.fresh() else await run_in_threadpool(intake.state)
    if state.behind:
        raise Problem(429, "hub-behind", "the hub is behind with the orders it has; send this one again later",
                      headers={"Retry-After": str(max(1, state.retry_after_seconds))})
