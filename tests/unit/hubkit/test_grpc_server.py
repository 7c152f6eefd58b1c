"""A service's refusal reaches a real gRPC client whole, however many fields it names: the field
errors and the status message stay within what a client accepts as trailing metadata."""
from __future__ import annotations

import json
from concurrent import futures

import grpc
import pytest

from hubkit.errors import InvalidArgument, NotFound
from hubkit.grpc_server import FIELD_ERRORS_KEY, rpc


class Refuser:
    def __init__(self, error: Exception):
        self.error = error

    @rpc("test")
    def Refuse(self, request, context):
        raise self.error


def _call(error: Exception) -> grpc.RpcError:
    servicer = Refuser(error)
    handler = grpc.method_handlers_generic_handler("test.Refuser", {
        "Refuse": grpc.unary_unary_rpc_method_handler(servicer.Refuse)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.RpcError) as caught:
                channel.unary_unary("/test.Refuser/Refuse")(b"", timeout=10)
        return caught.value
    finally:
        server.stop(None)


def test_a_long_list_of_field_errors_arrives_as_invalid_argument_with_the_first_fields():
    fields = [{"field": f"lines[{i}]", "message": "exactly one of debit and credit"} for i in range(2000)]
    error = _call(InvalidArgument("the opening balances are invalid", fields))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    listed = json.loads(dict(error.trailing_metadata())[FIELD_ERRORS_KEY])
    assert 10 < len(listed) < 2000 and listed == fields[:len(listed)]
    assert error.details() == f"the opening balances are invalid (the first {len(listed)} of 2000 field errors)"


def test_a_short_list_of_field_errors_arrives_whole():
    fields = [{"field": "lines[0].quantity", "message": "must be positive"}]
    error = _call(InvalidArgument("the order is invalid", fields))
    assert json.loads(dict(error.trailing_metadata())[FIELD_ERRORS_KEY]) == fields
    assert error.details() == "the order is invalid"


def test_a_message_quoting_a_long_input_is_cut_not_lost():
    error = _call(NotFound(f"SKU {'X' * 50_000!r} not found"))
    assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
    assert error.details().startswith("SKU 'XXX") and len(error.details()) <= 512
