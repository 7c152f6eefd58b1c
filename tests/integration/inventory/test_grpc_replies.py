"""The inventory api answers what it committed: a reply is built inside the unit of work, from
plain ints (PostgreSQL's SUM() over a bigint column is a Decimal), so no write is committed and then
answered with an error."""
from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from sqlalchemy import func, select

from hub import components
from hubapi.inventory.v1 import inventory_service_pb2 as pb
from hubapi.inventory.v1 import inventory_service_pb2_grpc as pb_grpc
from services.inventory import grpc_server
from services.inventory.models import metadata

pytestmark = pytest.mark.integration


@pytest.fixture
def api(db):
    settings = components.settings({})["inventory"]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_InventoryServiceServicer_to_server(grpc_server.InventoryServicer(db, settings), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield pb_grpc.InventoryServiceStub(channel)
    channel.close()
    server.stop(None)


def _picked(db, order_id):
    picks = metadata.tables["picks"]
    with db.reader() as s:
        return int(s.execute(select(func.coalesce(func.sum(picks.c.quantity), 0))
                             .where(picks.c.order_id == order_id)).scalar())


def _reserved_order(inv, quantity=5):
    wh = inv.warehouse("PICK", bins=("A-01",))
    mug = inv.sku("MUG")
    inv.receive(mug, wh, 10, "2.00", bin_code="A-01")
    order_id, answer = inv.order([(mug, quantity)])
    assert [l["status"] for l in answer] == ["reserved"]
    return wh, mug, order_id


def test_a_pick_is_answered_with_what_it_wrote(inv, api, db):
    wh, mug, order_id = _reserved_order(inv)
    md = (("x-hub-actor", "picker"),)
    first = api.Pick(pb.PickRequest(order_id=order_id, line_no=1, warehouse=wh, bin="A-01", code=mug, quantity=2),
                     metadata=md)
    assert (first.sku, first.picked, first.reserved) == (mug, 2, 5)
    second = api.Pick(pb.PickRequest(order_id=order_id, line_no=1, warehouse=wh, bin="A-01", code=mug, quantity=3),
                      metadata=md)
    assert (second.picked, second.reserved) == (5, 5)
    assert _picked(db, order_id) == 5


def test_a_reply_that_cannot_be_built_writes_nothing(inv, api, db, monkeypatch):
    wh, mug, order_id = _reserved_order(inv)

    def broken(**fields):
        raise TypeError("cannot build the reply")
    monkeypatch.setattr(grpc_server.pb, "PickResponse", broken)
    with pytest.raises(grpc.RpcError):
        api.Pick(pb.PickRequest(order_id=order_id, line_no=1, warehouse=wh, bin="A-01", code=mug, quantity=2))
    assert _picked(db, order_id) == 0  # the unit of work rolled back with the reply


def test_a_wave_is_made_once_per_command_and_its_pack_scans_are_answered(inv, api, db):
    wh, mug, order_id = _reserved_order(inv, quantity=2)
    md = (("x-hub-actor", "packer"), ("x-hub-command-id", f"wave-{inv.tag}"))
    request = pb.CreateWaveRequest(warehouse=wh, order_ids=[order_id, "O-unknown"])
    first = api.CreateWave(request, metadata=md)
    assert api.CreateWave(request, metadata=md) == first  # the same command again: that wave, not another
    assert [(o.order_id, o.status) for o in first.orders] == [(order_id, "open")]
    [line] = first.pick_list
    assert (line.seq, line.bin, line.walk.zone, line.walk.aisle, line.quantity) == (1, "A-01", "A", 1, 2)
    packed = api.PackWave(pb.PackWaveRequest(wave_id=first.wave_id, order_id=order_id, code=mug, quantity=2),
                          metadata=(("x-hub-actor", "packer"),))
    assert (packed.order_status, packed.remaining, packed.bin) == ("packed", 0, "A-01")
    assert _picked(db, order_id) == 2
    shown = api.GetWave(pb.GetWaveRequest(wave_id=first.wave_id))
    assert [(o.status, o.packed_by) for o in shown.orders] == [("packed", "packer")]
    with pytest.raises(grpc.RpcError) as refused:
        api.CreateWave(pb.CreateWaveRequest(warehouse=wh, order_ids=[order_id], max_orders=10_000))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
