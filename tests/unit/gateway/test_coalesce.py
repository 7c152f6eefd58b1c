"""gateway.coalesce: a request alone goes by the single call at once; requests that arrive while a
call is out go together by the batch call, per group, at most `most` at a time; each caller gets its
own answer or its own failure. And POST /orders sent on together (gateway.areas.orders.routes.placing):
each order its own correlation id and the answer POST /orders gives alone."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import grpc
import pytest

from gateway.areas.orders.routes import placing
from gateway.coalesce import Coalescer
from hubapi.order.v1 import order_service_pb2 as pb
from hubkit.grpc_server import ACTOR_KEY, CORRELATION_KEY


class Service:
    """Answers x with x * 10; the first single call waits until `let_go` is set (a call still out)."""

    def __init__(self):
        self.single, self.batches = [], []
        self.out, self.let_go = threading.Event(), threading.Event()

    def one(self, group, item):
        self.single.append((group, item))
        if len(self.single) == 1:
            self.out.set()
            assert self.let_go.wait(10)
        if item == "bad":
            raise ValueError("refused alone")
        return item * 10

    def many(self, group, items):
        self.batches.append((group, list(items)))
        return [ValueError(f"refused {item}") if item < 0 else item * 10 for item in items]


def send_while_one_is_out(coalescer: Coalescer, service: Service, requests: list[tuple]) -> list:
    """The first request is held with the service; the others are sent meanwhile; then it is let go.
    The answers (or exceptions), in the requests' order."""
    def outcome(group, item):
        try:
            return coalescer.send(group, item)
        except Exception as exc:
            return exc
    with ThreadPoolExecutor(len(requests)) as pool:
        first = pool.submit(outcome, *requests[0])
        assert service.out.wait(10)
        rest = [pool.submit(outcome, *r) for r in requests[1:]]
        while coalescer._waiting.qsize() < len(rest):  # every one of them is waiting
            threading.Event().wait(0.005)
        service.let_go.set()
        return [first.result(10), *(f.result(10) for f in rest)]


def test_a_request_alone_goes_by_the_single_call():
    service = Service()
    service.let_go.set()
    coalescer = Coalescer("test", service.one, service.many, most=50)
    assert coalescer.send("ann", 1) == 10
    assert coalescer.send("ann", 2) == 20
    assert service.single == [("ann", 1), ("ann", 2)] and service.batches == []


def test_requests_that_arrive_while_a_call_is_out_go_together_each_with_its_own_answer():
    service = Service()
    coalescer = Coalescer("test", service.one, service.many, most=50, senders=1)
    answers = send_while_one_is_out(coalescer, service, [("ann", 1), ("ann", 2), ("ann", -3), ("ann", 4)])
    assert answers[:2] == [10, 20] and answers[3] == 40
    assert isinstance(answers[2], ValueError) and str(answers[2]) == "refused -3"  # its own, the others placed
    assert service.single == [("ann", 1)] and service.batches == [("ann", [2, -3, 4])]


def test_only_requests_of_one_group_share_a_call_and_a_call_takes_at_most_most():
    service = Service()
    coalescer = Coalescer("test", service.one, service.many, most=3, senders=1)
    answers = send_while_one_is_out(coalescer, service,
                                    [("ann", 1), ("ann", 2), ("bob", 3), ("ann", 4), ("ann", 5), ("bob", 6)])
    assert answers == [10, 20, 30, 40, 50, 60]
    # taken three at a time (2, 3, 4, then 5, 6), each take split by group; a group of one goes alone
    assert service.batches == [("ann", [2, 4])]
    assert service.single == [("ann", 1), ("bob", 3), ("ann", 5), ("bob", 6)]


def test_a_batch_call_that_fails_as_a_whole_fails_each_of_its_callers_and_the_senders_go_on():
    service = Service()

    def broken(group, items):
        raise ConnectionError("the service went away")
    coalescer = Coalescer("test", service.one, broken, most=50, senders=1)
    answers = send_while_one_is_out(coalescer, service, [("ann", 1), ("ann", 2), ("ann", 3)])
    assert answers[0] == 10 and all(isinstance(a, ConnectionError) for a in answers[1:])
    assert coalescer.send("ann", 7) == 70  # the sender thread lives on


def test_a_batch_call_that_answers_the_wrong_number_fails_its_callers_instead_of_leaving_them_waiting():
    service = Service()
    coalescer = Coalescer("test", service.one, lambda group, items: [1], most=50, senders=1)
    answers = send_while_one_is_out(coalescer, service, [("ann", 1), ("ann", 2), ("ann", 3)])
    assert answers[0] == 10
    assert all(isinstance(a, RuntimeError) and "1 answers to 2 requests" in str(a) for a in answers[1:])


def test_a_single_call_that_fails_fails_only_its_caller():
    service = Service()
    service.let_go.set()
    coalescer = Coalescer("test", service.one, service.many, most=50)
    with pytest.raises(ValueError, match="refused alone"):
        coalescer.send("ann", "bad")
    assert coalescer.send("ann", 5) == 50


def test_most_one_calls_in_the_callers_own_thread_and_starts_no_sender():
    service = Service()
    service.let_go.set()
    coalescer = Coalescer("test", service.one, service.many, most=1)
    before = threading.active_count()
    assert coalescer.send("ann", 3) == 30
    assert threading.active_count() == before and service.single == [("ann", 3)]


class RpcFailure(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode):
        self._code = code

    def code(self):
        return self._code


class Orders:
    """The order service's PlaceOrder and PlaceOrders: an order whose external id is "bad" is refused,
    "down" fails as a server error; `failing`: PlaceOrders fails as a whole."""

    def __init__(self, failing: grpc.StatusCode | None = None):
        self.failing, self.alone, self.together = failing, [], []

    def PlaceOrder(self, message, metadata):
        self.alone.append((message.external_order_id, dict(metadata)))
        return pb.PlaceOrderResponse(order=pb.Order(id=f"id-{message.external_order_id}"), created=True)

    def PlaceOrders(self, request, metadata):
        self.together.append(([(m.external_order_id, m.correlation_id) for m in request.orders], dict(metadata)))
        if self.failing is not None:
            raise RpcFailure(self.failing)
        return pb.PlaceOrdersResponse(results=[self._result(m) for m in request.orders])

    @staticmethod
    def _result(message):
        if message.external_order_id == "bad":
            return pb.PlaceOrderResult(error=pb.ItemError(code="INVALID_ARGUMENT", message="the order is invalid",
                                                          fields=[pb.FieldError(field="lines[0].quantity",
                                                                                message="at least 1")]))
        if message.external_order_id == "down":
            return pb.PlaceOrderResult(error=pb.ItemError(code="INTERNAL", message="psycopg2 said something"))
        return pb.PlaceOrderResult(order=pb.Order(id=f"id-{message.external_order_id}"), created=True)


def placed(*external_ids: str) -> list:
    return [(pb.PlaceOrderRequest(channel="taobao", shop="s", external_order_id=e),
             [(ACTOR_KEY, "ann"), (CORRELATION_KEY, f"corr-{e}")]) for e in external_ids]


def test_orders_sent_on_together_keep_their_correlation_ids_and_each_its_own_answer_or_problem():
    orders = Orders()
    answers = placing(SimpleNamespace(order=orders), 50).many("ann", placed("a", "bad", "down", "b"))
    assert orders.together == [([("a", "corr-a"), ("bad", "corr-bad"), ("down", "corr-down"), ("b", "corr-b")],
                                {ACTOR_KEY: "ann", CORRELATION_KEY: "corr-a"})]
    assert [answers[0].order.id, answers[3].order.id] == ["id-a", "id-b"] and answers[0].created
    refused, failed = answers[1], answers[2]
    # what POST /orders answers alone: the refusal as the service worded it, a failure in general words
    assert (refused.status, refused.kind, refused.title) == (422, "invalid-argument", "the order is invalid")
    assert refused.errors == [{"field": "lines[0].quantity", "message": "at least 1"}]
    assert (failed.status, failed.title) == (502, "a service failed to answer this request") and not failed.errors


def test_orders_whose_batch_failed_as_a_whole_are_each_sent_again_alone_with_their_own_metadata():
    orders = Orders(failing=grpc.StatusCode.INTERNAL)
    answers = placing(SimpleNamespace(order=orders), 50).many("ann", placed("a", "b"))
    assert [a.order.id for a in answers] == ["id-a", "id-b"]
    assert orders.alone == [("a", {ACTOR_KEY: "ann", CORRELATION_KEY: "corr-a"}),
                            ("b", {ACTOR_KEY: "ann", CORRELATION_KEY: "corr-b"})]


@pytest.mark.parametrize("code", [grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE])
def test_orders_whose_batch_timed_out_or_found_the_service_away_are_not_sent_again(code):
    orders = Orders(failing=code)
    with pytest.raises(grpc.RpcError) as failed:
        placing(SimpleNamespace(order=orders), 50).many("ann", placed("a", "b"))
    assert failed.value.code() == code and orders.alone == []
