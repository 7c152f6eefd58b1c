"""A file's suppliers, customers, channel SKU mappings and price lists applied by their service as one command
(hubkit.imports), through gRPC, on PostgreSQL and SQLite: one refused row in the middle refuses the
whole file with that row named and nothing written (nor recorded as the command), the fixed file is
applied whole, the same rows again are all `unchanged`, and the same command again replays its reply."""
from __future__ import annotations

import uuid
from concurrent import futures
from types import SimpleNamespace

import grpc
import pytest
from sqlalchemy import func, select

from connectors.shops import store
from connectors.shops.grpc_api import ShopServicer
from hub import components
from hubapi.customer.v1 import customer_service_pb2 as cus
from hubapi.customer.v1 import customer_service_pb2_grpc as cus_grpc
from hubapi.order.v1 import order_service_pb2 as ordpb
from hubapi.order.v1 import order_service_pb2_grpc as ord_grpc
from hubapi.procurement.v1 import procurement_service_pb2 as pro
from hubapi.procurement.v1 import procurement_service_pb2_grpc as pro_grpc
from hubapi.shops.v1 import shop_service_pb2 as shp
from hubapi.shops.v1 import shop_service_pb2_grpc as shp_grpc
from hubkit import money
from hubkit.commands import COMMAND_KEY, REPLAY_ONLY_KEY
from hubkit.db import Database
from services.customer import domain as customer_domain
from services.customer.grpc_server import CustomerServicer
from services.customer.models import customers
from services.customer.models import metadata as customer_metadata
from services.order.grpc_server import OrderServicer
from services.order.models import metadata as order_metadata
from services.order.models import price_list_lines, price_lists
from services.procurement.grpc_server import ProcurementServicer
from services.procurement.models import metadata as procurement_metadata
from services.procurement.models import suppliers
from tests.support import infra

pytestmark = pytest.mark.integration
SERVICES = ("procurement", "customer", "shops", "order")
KEY = b"test-phone-key"


@pytest.fixture(scope="module")
def pg_urls():
    prefix = infra.session_name()
    urls = infra.create_databases(prefix, SERVICES)
    for name in SERVICES:
        components.migrate(name, urls[name])
    yield urls
    infra.drop_databases(prefix, SERVICES)


@pytest.fixture(params=["postgresql", "sqlite"])
def urls(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_urls")
    urls = {name: f"sqlite:///{tmp_path / name}.db" for name in SERVICES}
    for name in SERVICES:
        components.migrate(name, urls[name])
    return urls


def _serve(add, servicer, stub_type):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, grpc.insecure_channel(f"127.0.0.1:{port}"), stub_type


@pytest.fixture
def hub(urls):
    dbs = {"procurement": Database(urls["procurement"], procurement_metadata, pool_size=4),
           "customer": Database(urls["customer"], customer_metadata, pool_size=4),
           "shops": Database(urls["shops"], store.metadata, pool_size=4),
           "order": Database(urls["order"], order_metadata, pool_size=4)}
    redrives: list[int] = []
    connector = SimpleNamespace(db=dbs["shops"], platform="taobao", ask_redrive=lambda: redrives.append(1))
    served = [_serve(pro_grpc.add_ProcurementServiceServicer_to_server, ProcurementServicer(dbs["procurement"]),
                     pro_grpc.ProcurementServiceStub),
              _serve(cus_grpc.add_CustomerServiceServicer_to_server,
                     CustomerServicer(dbs["customer"], phone_hash_key=KEY), cus_grpc.CustomerServiceStub),
              _serve(shp_grpc.add_ShopConnectorServiceServicer_to_server, ShopServicer(connector),
                     shp_grpc.ShopConnectorServiceStub),
              _serve(ord_grpc.add_OrderServiceServicer_to_server, OrderServicer(dbs["order"]),
                     ord_grpc.OrderServiceStub)]
    yield SimpleNamespace(procurement=served[0][2](served[0][1]), customer=served[1][2](served[1][1]),
                          shops=served[2][2](served[2][1]), order=served[3][2](served[3][1]), db=dbs,
                          redrives=redrives)
    for server, channel, _ in served:
        channel.close()
        server.stop(None)
    for db in dbs.values():
        db.dispose()


def _md(command: str, replay_only: bool = False) -> list[tuple[str, str]]:
    return [("x-hub-actor", "importer"), (COMMAND_KEY, command)] + ([(REPLAY_ONLY_KEY, "1")] if replay_only else [])


def _cmd() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def _code(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _result(reply) -> tuple:
    return [(e.row, e.column) for e in reply.errors], reply.applied, reply.unchanged


def _check_whole_or_nothing(call, request_type, rows, fix, count_written):
    """The rows with a refused one: nothing written, nothing recorded; fixed: applied whole; the same
    rows again (another command): unchanged; the same command again: its first reply."""
    first = _cmd()
    refused = call(request_type(rows=rows), metadata=_md(first))
    assert _result(refused)[1:] == (0, 0) and [e.row for e in refused.errors] == [3], refused
    assert count_written() == 0  # not even the good rows before and after it
    assert not call(request_type(), metadata=_md(first, replay_only=True)).ByteSize()  # a refusal is not recorded
    dry = call(request_type(rows=fix(rows), dry_run=True), metadata=_md(_cmd()))
    assert (_result(dry), count_written()) == (([], 3, 0), 0)

    done = call(request_type(rows=fix(rows)), metadata=_md(first))  # the file put right, the same command id
    assert _result(done) == ([], 3, 0) and count_written() == 3
    again = call(request_type(rows=fix(rows)), metadata=_md(_cmd()))
    assert _result(again) == ([], 0, 3)
    replayed = call(request_type(), metadata=_md(first, replay_only=True))
    assert _result(replayed) == ([], 3, 0)  # the first reply, nothing applied now
    return refused


def test_suppliers_import_whole_or_not_at_all(hub):
    old = _code("OLD")
    hub.procurement.UpsertSupplier(pro.UpsertSupplierRequest(supplier=pro.Supplier(code=old, name="Old name")),
                                   metadata=[("x-hub-actor", "alice")])
    new1, new2 = _code("SUP"), _code("SUP")
    rows = [pro.ImportSupplierRow(row=2, supplier=pro.Supplier(code=new1, name="Hangzhou Tea")),
            pro.ImportSupplierRow(row=3, supplier=pro.Supplier(code=new2, name="")),
            pro.ImportSupplierRow(row=4, supplier=pro.Supplier(code=old, name="New name"))]

    def written() -> int:
        with hub.db["procurement"].reader() as s:
            return s.execute(select(func.count()).select_from(suppliers).where(
                suppliers.c.code.in_([new1, new2]) | ((suppliers.c.code == old) & (suppliers.c.name == "New name")))
            ).scalar()

    def fix(rs):
        return [rs[0], pro.ImportSupplierRow(row=3, supplier=pro.Supplier(code=new2, name="Ningbo Cups")), rs[2]]
    refused = _check_whole_or_nothing(hub.procurement.ImportSuppliers, pro.ImportSuppliersRequest, rows, fix, written)
    assert [(e.row, e.column) for e in refused.errors] == [(3, "name")]


def test_customers_import_whole_or_not_at_all_with_name_and_hashed_phone(hub):
    known = _code("b")
    hub.customer.SetBuyerTerms(cus.SetBuyerTermsRequest(channel="taobao", external_id=known, tier="standard"),
                               metadata=[("x-hub-actor", "alice")])
    b1, b2 = _code("b"), _code("b")
    rows = [cus.ImportCustomerRow(row=2, channel="taobao", external_id=b1, tier="vip", credit_limit="5000.00",
                                  name="Li Lei", phone="+86 138-0013-8000"),
            cus.ImportCustomerRow(row=3, channel="taobao", external_id=b2, tier="not a tier!", credit_limit=""),
            cus.ImportCustomerRow(row=4, channel="taobao", external_id=known, tier="wholesale",
                                  credit_limit="100.50")]

    def written() -> int:
        with hub.db["customer"].reader() as s:
            return s.execute(select(func.count()).select_from(customers).where(
                customers.c.external_id.in_([b1, b2]) | ((customers.c.external_id == known)
                                                         & (customers.c.tier == "wholesale")))).scalar()

    def fix(rs):
        return [rs[0], cus.ImportCustomerRow(row=3, channel="taobao", external_id=b2, tier="standard"), rs[2]]
    refused = _check_whole_or_nothing(hub.customer.ImportCustomers, cus.ImportCustomersRequest, rows, fix, written)
    assert [(e.row, e.column) for e in refused.errors] == [(3, "tier")]

    with hub.db["customer"].reader() as s:
        row = s.execute(select(customers).where(customers.c.external_id == b1)).one()
    assert (row.name, row.phone, row.tier, row.credit_limit) == ("Li Lei", "+8613800138000", "vip", 5000)
    assert row.phone_hash == customer_domain.phone_hash(KEY, "+8613800138000")  # as the worker keeps it
    terms = hub.customer.FindCustomers(cus.FindCustomersRequest(channel="taobao", external_id=known)).customers[0]
    assert (terms.tier, terms.credit_limit) == ("wholesale", "100.50")


def test_channel_sku_mappings_import_whole_or_not_at_all(hub):
    old = _code("TB")
    hub.shops.MapSku(shp.MapSkuRequest(outer_sku=old, components=[shp.Component(sku="TEA", quantity=1)]))
    assert hub.redrives == [1]
    t1, t2 = _code("TB"), _code("TB")
    rows = [shp.ImportSkuMappingRow(row=2, mapping=shp.MapSkuRequest(
                outer_sku=t1, components=[shp.Component(sku="TEA", quantity=2), shp.Component(sku="CUP", quantity=1)])),
            shp.ImportSkuMappingRow(row=3, mapping=shp.MapSkuRequest(
                outer_sku=t2, components=[shp.Component(sku="TEA", quantity=0)])),
            shp.ImportSkuMappingRow(row=4, mapping=shp.MapSkuRequest(
                outer_sku=old, components=[shp.Component(sku="CUP", quantity=3)]))]
    m = store.sku_mappings

    def written() -> int:
        with hub.db["shops"].reader() as s:
            return s.execute(select(func.count()).select_from(m).where(
                m.c.outer_sku.in_([t1, t2]) | ((m.c.outer_sku == old) & m.c.components.contains("CUP")))).scalar()

    def fix(rs):
        return [rs[0], shp.ImportSkuMappingRow(row=3, mapping=shp.MapSkuRequest(
            outer_sku=t2, components=[shp.Component(sku="TEA", quantity=6)])), rs[2]]
    refused = _check_whole_or_nothing(hub.shops.ImportSkuMappings, shp.ImportSkuMappingsRequest, rows, fix, written)
    assert [(e.row, e.column) for e in refused.errors] == [(3, "components")]
    assert hub.redrives == [1, 1]  # held orders are tried again once: after the import that changed mappings


def test_price_lists_import_whole_or_not_at_all_one_row_per_line(hub):
    retail, vip = _code("RETAIL"), _code("VIP")

    def row(n, code, sku, price, name="", tier="", min_quantity=0):
        return ordpb.ImportPriceListRow(
            row=n, header=ordpb.PriceList(code=code, name=name, tier=tier, valid_from="2026-01-01" if name else ""),
            line=ordpb.PriceListLine(sku=sku, unit_price=money.to_proto(price), min_quantity=min_quantity))
    rows = [row(2, retail, "TEA-001", "100.00", name="Retail 2026"),
            row(3, retail, "TEA-001", "0", min_quantity=10),  # refused: a price must be above 0
            row(4, vip, "TEA-001", "90.00", name="VIP", tier="vip")]

    def written() -> int:
        with hub.db["order"].reader() as s:
            return s.execute(select(func.count()).select_from(price_list_lines).where(
                price_list_lines.c.code.in_([retail, vip]))).scalar()

    def fix(rs):
        return [rs[0], row(3, retail, "TEA-001", "85.50", min_quantity=10), rs[2]]
    refused = _check_whole_or_nothing(hub.order.ImportPriceLists, ordpb.ImportPriceListsRequest, rows, fix, written)
    assert [(e.row, e.column) for e in refused.errors] == [(3, "unit_price")]

    with hub.db["order"].reader() as s:
        head = s.execute(select(price_lists).where(price_lists.c.code == retail)).one()
    assert (head.name, head.currency, head.tier, str(head.valid_from)) == ("Retail 2026", "CNY", "", "2026-01-01")
    answer = hub.order.GetPrice(ordpb.GetPriceRequest(sku="TEA-001", tier="vip", quantity=12, on="2026-03-01"))
    assert (answer.price_list, money.from_proto(answer.unit_price), answer.scope) == (vip, 90, "tier")
    mixed = hub.order.ImportPriceLists(ordpb.ImportPriceListsRequest(rows=[
        row(2, retail, "TEA-001", "100.00", name="Retail 2026"),
        ordpb.ImportPriceListRow(row=3, header=ordpb.PriceList(code=retail, name="Another name"),
                                 line=ordpb.PriceListLine(sku="CUP", unit_price=money.to_proto("5.00")))]),
        metadata=_md(_cmd()))
    assert [(e.row, e.column) for e in mixed.errors] == [(3, "name")]  # a list's rows must agree on its header
    middle = hub.order.ImportPriceLists(ordpb.ImportPriceListsRequest(rows=[
        row(2, retail, "TEA-001", "100.00", name="Retail 2026"), row(3, retail, "CUP", "1.001"),
        row(4, retail, "TEA-001", "80.00", min_quantity=20)]), metadata=_md(_cmd()))
    assert [(e.row, e.column) for e in middle.errors] == [(3, "unit_price")]  # the list's last row: not blamed
