"""`presenters.answered` writes a route's answer as FastAPI does through the route's response model:
the same status, headers and bytes (field order, null, non-ASCII text), and a field the model does not
declare still fails the answer."""
from __future__ import annotations

import pydantic
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.common.presenters import answered, order_json
from gateway.common.schemas import Order
from hubapi.order.v1 import order_service_pb2 as pb
from tests.unit.gateway.test_responses import filled


def _content() -> dict:
    order = filled(pb.Order, merge_group="", shipped_at="")  # a null and a missing shipment among the fields
    order.buyer.name = "张三 \"Zhang\""
    return order_json(order)


def test_the_same_answer_as_the_response_model():
    app = FastAPI()

    @app.post("/through-model", status_code=201, response_model=Order)
    def through_model():
        return _content()

    @app.post("/answered", response_model=Order)
    def answered_here():
        return answered(Order, _content(), 201)

    with TestClient(app) as client:
        expected, got = client.post("/through-model"), client.post("/answered")
    assert got.status_code == expected.status_code == 201
    assert got.content == expected.content
    assert got.headers == expected.headers


def test_a_field_the_model_does_not_declare_fails():
    with pytest.raises(pydantic.ValidationError):
        answered(Order, {**_content(), "secret": "x"}, 200)
