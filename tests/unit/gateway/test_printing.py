"""Printed documents: rendered from fixture messages to PDF, then read back: their text (Chinese and the
numbers where they belong, lines along the walk) and their pixels (ink where the text is, each Chinese
character drawn as itself, not as the same empty box). The routes with fake services: a PDF, or a
problem+json 404 or 422 for what cannot be printed."""
from __future__ import annotations

import io
from types import SimpleNamespace

import grpc
import pypdf
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gateway.areas.printing import documents, routes
from hubapi.accounting.v1 import accounting_service_pb2 as acc
from hubapi.customer.v1 import customer_service_pb2 as cus
from hubapi.inventory.v1 import inventory_service_pb2 as inv
from hubapi.order.v1 import order_service_pb2 as ordpb
from hubapi.procurement.v1 import procurement_service_pb2 as pro
from hubkit import money, pdf
from tests.support.pdf import fonts, ink, inked_box, page_image, pages_text

MERCHANT = {"merchant_name": "杭州茶具有限公司", "merchant_address": "浙江省杭州市西湖区文三路 90 号",
            "merchant_tax_id": "91330100MA2B3C4D5E", "merchant_phone": "0571-88886666"}
SKUS = {"TEA-LJ-250": inv.Sku(code="TEA-LJ-250", name="龙井茶 250克", base_unit="盒"),
        "CUP-BLUE": inv.Sku(code="CUP-BLUE", name="青花瓷杯", base_unit="只"),
        "POT-ZS": inv.Sku(code="POT-ZS", name="紫砂壶")}


def _settings(**values):
    return SimpleNamespace(**{**MERCHANT, "merchant_logo": None, "print_templates_dir": None, **values})


def _order(order_id: str = "O-20261206-0001", **values) -> ordpb.Order:
    return ordpb.Order(
        id=order_id, channel="storefront", shop="main", external_order_id="SF-778", buyer=ordpb.Buyer(name="张三"),
        shipping_address=ordpb.Address(recipient="李雷", phone="13800000000", province="上海市", city="上海市",
                                       district="浦东新区", street="世纪大道 100 号"),
        lines=[ordpb.OrderLine(line_no=1, sku="TEA-LJ-250", quantity=2, unit_price=money.to_proto("88.00"),
                               amount=money.to_proto("176.00"), reservation="reserved"),
               ordpb.OrderLine(line_no=2, sku="CUP-BLUE", quantity=6, unit_price=money.to_proto("12.50"),
                               amount=money.to_proto("75.00"), reservation="reserved"),
               ordpb.OrderLine(line_no=3, sku="POT-ZS", quantity=1, unit_price=money.to_proto("300.00"),
                               amount=money.to_proto("300.00"), reservation="refunded")],
        total=money.to_proto("251.00"), status="reserved", created_at="2026-12-06T02:00:00Z", buyer_message="请周末送货",
        parcels=[ordpb.Parcel(parcel_no=1, parcel_key=f"{order_id}-P1", carrier="SF", tracking_number="SF100200",
                              lines=[ordpb.ParcelLine(line_no=2, quantity=4)])], **values)


def _wave() -> inv.Wave:
    """A wave whose pick list comes in another order than its walk (seq): the document follows seq."""
    def line(seq, bin_code, sku, order_id, quantity=1, lot=""):
        return inv.PickListLine(seq=seq, bin=bin_code, sku=sku, order_id=order_id, quantity=quantity, lot=lot,
                                line_no=1)
    return inv.Wave(wave_id="W-7", warehouse="SH", status="open", created_by="小王", created_at="2026-12-06T01:00:00Z",
                    orders=[inv.WaveOrder(order_id="O-1", status="open"), inv.WaveOrder(order_id="O-2", status="open"),
                            inv.WaveOrder(order_id="O-3", status="cancelled")],
                    pick_list=[line(4, "B-01-01-1", "TEA-LJ-250", "O-1"), line(1, "A-02-05-2", "CUP-BLUE", "O-2", 2),
                               line(3, "A-10-02-1", "POT-ZS", "O-2", lot="L2026"), line(2, "A-02-11-1", "CUP-BLUE", "O-1")])


def _count() -> inv.Count:
    def line(no, bin_code, sku, seq, expected):
        return inv.CountLine(line_no=no, bin=bin_code, sku=sku, walk_seq=seq, expected=expected)
    return inv.Count(count_id="CNT-9", status="open", warehouse="SH", bins=["A-02-05-2", "B-01-01-1", "A-10-02-1"],
                     lines=[line(1, "B-01-01-1", "TEA-LJ-250", 3, 17), line(2, "A-02-05-2", "CUP-BLUE", 1, 40),
                            line(3, "A-10-02-1", "POT-ZS", 2, 3)])


def _purchase_order(approval: str = "approved") -> pro.PurchaseOrder:
    return pro.PurchaseOrder(
        id="PO-31", supplier="ACME", supplier_name="宜兴紫砂厂", warehouse="SH", currency="CNY", status="open", approval=approval,
        created_by="采购员", created_at="2026-12-01T03:00:00Z",
        lines=[pro.PurchaseOrderLine(line_no=1, sku="CUP-BLUE", quantity=2, unit_cost="10.00", vat_rate="0.13",
                                     amount=money.to_proto("20.00"), expected_on="2026-12-20"),
               pro.PurchaseOrderLine(line_no=2, sku="TEA-LJ-250", quantity=3, unit_cost="33.33", vat_rate="0.13",
                                     amount=money.to_proto("99.99"))])


def _detail() -> acc.GetAccountDetailResponse:
    return acc.GetAccountDetailResponse(
        account="1122", name="应收账款 Accounts receivable", period="2026-11", opening="100.00", debit="251.00",
        credit="300.00", closing="51.00",
        lines=[acc.DetailLine(business_date="2026-11-03", voucher_number="记-0012", summary="销售 订单 O-1",
                              debit="251.00", credit="0.00", balance="351.00"),
               acc.DetailLine(business_date="2026-11-20", voucher_number="记-0031", summary="收款 银行回单 B-9",
                              debit="0.00", credit="300.00", balance="51.00")])


def _customer() -> cus.Customer:
    return cus.Customer(id="C-5", channel="storefront", external_id="B-1", name="王芳", phone="13900000000")


@pytest.fixture(scope="module")
def renderer():
    return routes.printer(_settings())


def _render(renderer, document: str, doc: dict) -> bytes:
    return renderer.pdf([(documents.TEMPLATES[document], doc)])
# A variant of a document rendered already is read as HTML (renderer.html): the PDF proves the rendering once.


@pytest.fixture(scope="module")
def delivery_note(renderer) -> bytes:
    """Rendered once for the tests that read it (a render takes some 0.2 s)."""
    return _render(renderer, "delivery-note", documents.delivery_note(_order(), SKUS))


def _flat(text: str) -> str:
    return "".join(text.split())


def test_a_delivery_note_says_in_chinese_who_gets_what_and_its_number(delivery_note):
    body = delivery_note
    assert body.startswith(b"%PDF")
    [text] = pages_text(body)
    for expected in ("送货单", "杭州茶具有限公司", "91330100MA2B3C4D5E", "李雷", "13800000000",
                     "上海市上海市浦东新区世纪大道 100 号", "龙井茶 250克", "青花瓷杯", "O-20261206-0001", "176.00",
                     "251.00", "请周末送货", "收货人签字", "第 1 / 1 页"):
        assert expected in text, expected
    assert "紫砂壶" not in text  # refunded before shipment: it does not ship
    assert any(f.startswith("WenQuanYi-Zen-Hei") for f in fonts(body))  # the CJK font the project installs


def test_chinese_characters_are_drawn_as_themselves_not_as_empty_boxes(renderer, tmp_path):
    """A missing glyph is drawn as the same box whatever the character; a real one has its own strokes.
    一 has little ink, 龍 much: the same box would have the same ink."""
    (tmp_path / "glyphs.html").write_text('<html><head><style>{% include "print.css" %}</style></head>'
                                          '<body><p style="font-size:60pt;margin:0">{{ text }}</p></body></html>')
    glyphs = pdf.Renderer("gateway.areas.printing", "templates", tmp_path)
    image = page_image(glyphs.pdf([("glyphs.html", {"text": "一二送龍"})]))
    image = image.crop((0, 0, image.width, image.height // 5))  # the line, not the page number at the foot
    left, top, right, bottom = inked_box(image)
    width = (right - left) / 4
    cells = [ink(image, (int(left + i * width), top, int(left + (i + 1) * width), bottom)) for i in range(4)]
    assert all(c > 0.005 for c in cells), cells
    assert cells[0] < cells[1] < cells[3] and cells[0] * 4 < cells[3], cells


def test_a_page_has_ink_where_its_text_and_barcode_are(delivery_note):
    image = page_image(delivery_note)
    w, h = image.size
    assert 0.01 < ink(image, (0, 0, w // 2, h // 8)) < 0.5  # the merchant's masthead
    assert 0.3 < ink(image, (int(w * 0.75), int(h * 0.102), int(w * 0.92), int(h * 0.124))) < 0.8  # the barcode's bars
    assert ink(image, (0, h // 2, w, int(h * 0.9))) < 0.001  # below the signatures: blank paper


def test_a_pick_list_follows_the_walk_not_the_order_lines_came_in(renderer):
    [text] = pages_text(_render(renderer, "pick-list", documents.pick_list(_wave(), SKUS)))
    flat = _flat(text)
    bins = [flat.index(b) for b in ("A-02-05-2", "A-02-11-1", "A-10-02-1", "B-01-01-1")]
    assert bins == sorted(bins), bins
    assert "拣货单" in text and "紫砂壶" in text and "L2026" in text and "W-7" in text and "小王" in text
    assert "件数合计" in text and _flat("Units 5") in flat  # 2 + 1 + 1 + 1 units


def test_a_waves_pick_lists_print_in_one_pdf_one_order_each_page_numbered_on_its_own(renderer):
    wave = _wave()
    docs = [(documents.TEMPLATES["pick-list"], documents.pick_list(wave, SKUS, o)) for o in ("O-1", "O-2")]
    pages = pages_text(renderer.pdf(docs))
    assert len(pages) == 2
    first, second = (_flat(p) for p in pages)
    assert "W-7-O-1" in first and "O-2" not in first.replace("A-02-05-2", "")
    assert first.index("A-02-11-1") < first.index("B-01-01-1")
    assert "W-7-O-2" in second and second.index("A-02-05-2") < second.index("A-10-02-1")
    assert all("第1/1页" in p for p in (first, second))


def test_a_packing_slip_has_no_prices_and_a_parcel_only_its_units(renderer):
    [whole] = pages_text(_render(renderer, "packing-slip", documents.packing_slip(_order(), SKUS)))
    assert "装箱单" in whole and "龙井茶" in whole and "88.00" not in whole
    parcel = renderer.html(documents.TEMPLATES["packing-slip"], documents.packing_slip(_order(), SKUS, 1))
    assert "O-20261206-0001-P1" in parcel and "SF100200" in parcel and "第 1 包" in parcel
    assert "青花瓷杯" in parcel and "龙井茶" not in parcel
    with pytest.raises(KeyError):
        documents.packing_slip(_order(), SKUS, 2)


def test_a_purchase_order_adds_vat_per_line_and_says_when_not_approved(renderer):
    doc = documents.purchase_order(_purchase_order(), SKUS, "宜兴紫砂厂")
    assert [(l["net"], l["vat"], l["gross"]) for l in doc["lines"]] == [("20.00", "2.60", "22.60"),
                                                                         ("99.99", "13.00", "112.99")]
    assert (doc["net"], doc["vat"], doc["gross"]) == ("119.99", "15.60", "135.59")
    [text] = pages_text(_render(renderer, "purchase-order", doc))
    assert "采购订单" in text and "PO-31" in text and "135.59" in text and "2026-12-20" in text and "未审批" not in text
    assert "宜兴紫砂厂 (ACME)" in text
    pending = renderer.html(documents.TEMPLATES["purchase-order"], documents.purchase_order(_purchase_order("pending"), SKUS))
    assert "未审批 NOT APPROVED (pending)" in pending


def test_a_customer_statement_runs_from_the_opening_to_the_closing_balance(renderer):
    doc = documents.customer_statement(_customer(), _detail(), "2026-11", "customer:storefront:B-1")
    [text] = pages_text(_render(renderer, "customer-statement", doc))
    flat = _flat(text)
    assert "对账单" in text and "王芳" in text and "C-5-2026-11" in text
    assert flat.index("期初余额") < flat.index("记-0012") < flat.index("记-0031") < flat.index("期末余额")
    assert "100.00" in text and "351.00" in text and "51.00" in text and "收款银行回单B-9" in flat
    assert "平台代收" not in text
    marketplace = documents.customer_statement(_customer(), acc.GetAccountDetailResponse(), "2026-11", "customer:jd:B-1",
                                               collected_by_platform=True)
    owed_to_platform = renderer.html(documents.TEMPLATES["customer-statement"], marketplace)
    assert "平台代收" in owed_to_platform and "0.00" in owed_to_platform


def test_a_count_sheet_walks_the_bins_and_is_blind_unless_asked(renderer):
    [blind] = pages_text(_render(renderer, "count-sheet", documents.count_sheet(_count(), SKUS)))
    # the table: after the head that names the bins too, before the signatures and the time printed
    # (which may hold "40" itself)
    lines = _flat(blind).split("实盘Counted")[1].split("盘点人")[0]
    assert lines.index("A-02-05-2") < lines.index("A-10-02-1") < lines.index("B-01-01-1")
    assert "盘点表" in blind and "CNT-9" in blind and "账存" not in blind and "40" not in lines
    shown = renderer.html(documents.TEMPLATES["count-sheet"], documents.count_sheet(_count(), SKUS, show_expected=True))
    assert "账存" in shown and "40" in shown


def _png(path, colour=(200, 0, 0)):
    Image.new("RGB", (40, 20), colour).save(path)
    return path


def test_a_merchants_file_replaces_the_shipped_template_of_that_name_and_the_logo_heads_every_page(tmp_path):
    (tmp_path / "delivery_note.html").write_text('{% extends "base.html" %}{% block title %}发货确认单{% endblock %}'
                                                 '{% block body %}<p>共 {{ units }} 件</p>{% endblock %}')
    (tmp_path / "print.css").write_text("html { font-family: 'WenQuanYi Zen Hei'; } .merchant .name { color: #00f; }")
    renderer = routes.printer(_settings(print_templates_dir=tmp_path, merchant_logo=_png(tmp_path / "logo.png")))
    body = renderer.pdf([("delivery_note.html", documents.delivery_note(_order(), SKUS)),
                         ("packing_slip.html", documents.packing_slip(_order(), SKUS))])
    note, slip = pages_text(body)
    assert "发货确认单" in note and "共 8 件" in note and "送货单" not in note
    assert "装箱单" in slip  # not overridden: as shipped, and with the merchant's stylesheet
    assert all(len(page.images) == 1 for page in pypdf.PdfReader(io.BytesIO(body)).pages)  # the logo


def test_a_template_fetches_no_file_and_nothing_from_the_network(tmp_path):
    logo = _png(tmp_path / "secret.png")
    (tmp_path / "peek.html").write_text(f'<img src="file://{logo}"><img src="http://127.0.0.1:9/x.png"><p>x</p>')
    body = pdf.Renderer("gateway.areas.printing", "templates", tmp_path).pdf([("peek.html", {})])
    assert len(pypdf.PdfReader(io.BytesIO(body)).pages[0].images) == 0  # neither image drawn
    assert "x" in pages_text(body)[0]


def test_document_numbers_are_code128_and_anything_else_a_qr_code():
    import base64

    code = base64.b64decode(pdf.code128_uri("PO-31").split(",", 1)[1]).decode()
    assert code.count("<rect") > 15 and "<text" not in code  # bars only: the template prints the number
    qr = base64.b64decode(pdf.qr_uri("送货单").split(",", 1)[1]).decode()
    assert pdf.code128_uri("送货单") == pdf.qr_uri("送货单") and "<path" in qr
    with pytest.raises(pdf.TemplateMissing):
        pdf.Renderer("gateway.areas.printing", "templates").html("nope.html", {})


def test_documents_printed_at_once_from_several_threads_are_each_their_own(renderer):
    from concurrent.futures import ThreadPoolExecutor

    orders = [_order(f"O-T{i}") for i in range(3)]
    with ThreadPoolExecutor(3) as pool:
        bodies = list(pool.map(lambda o: renderer.pdf([("packing_slip.html", documents.packing_slip(o, SKUS))]), orders))
    assert [f"O-T{i}" in pages_text(b)[0] for i, b in enumerate(bodies)] == [True, True, True]


def test_a_template_reaches_no_python_object_behind_its_values(tmp_path):
    """Templates are a merchant's files: sandboxed, so that one cannot walk from a value to the interpreter."""
    from jinja2.exceptions import SecurityError

    (tmp_path / "escape.html").write_text("{{ number.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(SecurityError):
        pdf.Renderer("gateway.areas.printing", "templates", tmp_path).html("escape.html", {"number": "O-1"})


# -- the routes, with fake services -----------------------------------------------------------
class NotFound(grpc.RpcError):
    def __init__(self, what: str):
        self.what = what

    def code(self):
        return grpc.StatusCode.NOT_FOUND

    def details(self):
        return f"{self.what} not found"

    def trailing_metadata(self):
        return ()


class Services:
    """One fake for every service the print routes read: fixture messages by id, NOT_FOUND otherwise."""

    def __init__(self):
        self.orders = {o.id: o for o in (_order(), _order("O-1"), _order("O-2"))}

    def GetOrder(self, r, metadata=None):
        if r.id not in self.orders:
            raise NotFound(f"order {r.id}")
        return ordpb.GetOrderResponse(order=self.orders[r.id])

    def GetSkus(self, r, metadata=None):
        return inv.GetSkusResponse(skus=[SKUS[c] for c in r.codes if c in SKUS])

    def GetWave(self, r, metadata=None):
        if r.wave_id != "W-7":
            raise NotFound(f"wave {r.wave_id}")
        return _wave()

    def GetCount(self, r, metadata=None):
        if r.count_id != "CNT-9":
            raise NotFound(f"count {r.count_id}")
        return _count()

    def GetPurchaseOrder(self, r, metadata=None):
        if r.id != "PO-31":
            raise NotFound(f"purchase order {r.id}")
        return pro.GetPurchaseOrderResponse(purchase_order=_purchase_order())

    def GetCustomer(self, r, metadata=None):
        if r.id != "C-5":
            raise NotFound(f"customer {r.id}")
        return cus.GetCustomerResponse(customer=_customer())

    def GetBalances(self, r, metadata=None):
        assert r.accounts_only  # which account, not every counterparty's balance
        return acc.GetBalancesResponse(accounts={"receivable": "1122"}, marketplaces=["taobao", "jd"])

    def GetAccountDetail(self, r, metadata=None):
        assert (r.account, r.aux) == ("1122", "customer:storefront:B-1")
        return _detail()


@pytest.fixture(scope="module")
def http(tmp_path_factory):
    from gateway import auth
    from gateway import config as gateway_config
    from gateway.app import create_app
    from gateway.clients import Clients
    from gateway.models import metadata
    from hubkit import settings as hub_settings
    from hubkit.db import Database

    settings = hub_settings.load(gateway_config.Settings, {"HUB_VAR_DIR": str(tmp_path_factory.mktemp("print")),
                                                           "HUB_MERCHANT_NAME": "杭州茶具有限公司"})
    db = Database(settings.gateway_db_url, metadata)
    metadata.create_all(db.engine)
    keys = {role: {"X-API-Key": auth.add_user(db, role, role)} for role in ("admin", "sales", "warehouse")}
    fake = Services()
    clients = Clients(order=fake, inventory=fake, procurement=fake, customer=fake, accounting=fake, ledger=None,
                      shops={}, channels=[])
    with TestClient(create_app(settings, clients)) as client:
        yield client, keys
    db.dispose()


def test_the_routes_answer_pdfs(http):
    client, keys = http
    # each route renders in test_responses too; here those whose inputs the route reads itself
    for path in ("/print/packing-slips/O-1.pdf?parcel=1", "/print/pick-lists/W-7.pdf?order_id=O-2",
                 "/print/customer-statements/C-5.pdf?period=2026-11"):
        reply = client.get(path, headers=keys["admin"])
        assert (reply.status_code, reply.headers["content-type"]) == (200, "application/pdf"), (path, reply.text)
        assert "杭州茶具有限公司" in pages_text(reply.content)[0]  # the merchant named in the settings
    batch = client.get("/print/waves/W-7/delivery-notes.pdf", headers=keys["admin"])
    pages = pages_text(batch.content)
    assert [("送货单" in p, "O-1" in p, "O-2" in p) for p in pages] == [(True, True, False), (True, False, True)]
    assert not any("O-3" in p for p in pages)  # cancelled: not printed
    assert batch.headers["content-disposition"] == 'inline; filename="W-7-delivery-notes.pdf"'


@pytest.mark.parametrize(("path", "status", "field"), [
    ("/print/invoices/O-1.pdf", 404, None),  # no such document
    ("/print/waves/W-7/invoices.pdf", 404, None),
    ("/print/delivery-notes/O-404.pdf", 404, None),
    ("/print/waves/W-404/pick-lists.pdf", 404, None),
    ("/print/packing-slips/O-1.pdf?parcel=2", 404, "parcel"),
    ("/print/pick-lists/W-7.pdf?order_id=O-9", 404, "order_id"),
    ("/print/customer-statements/C-5.pdf?period=2026-13", 422, "query.period"),
    ("/print/customer-statements/C-5.pdf", 422, "query.period"),
    ("/print/customer-statements/C-404.pdf?period=2026-11", 404, None),
    ("/print/count-sheets/CNT-404.pdf", 404, None),
    ("/print/purchase-orders/PO-404.pdf", 404, None),
])
def test_what_cannot_be_printed_is_a_problem_not_a_pdf(http, path, status, field):
    client, keys = http
    reply = client.get(path, headers=keys["admin"])
    assert (reply.status_code, reply.headers["content-type"]) == (status, "application/problem+json"), reply.text
    if field:
        assert field in [e["field"] for e in reply.json()["errors"]]


def test_who_may_print_what(http):
    client, keys = http
    assert client.get("/print/pick-lists/W-7.pdf", headers=keys["sales"]).status_code == 403
    assert client.get("/print/waves/W-7/pick-lists.pdf", headers=keys["sales"]).status_code == 403
    assert client.get("/print/customer-statements/C-5.pdf?period=2026-11", headers=keys["warehouse"]).status_code == 403
    assert client.get("/print/delivery-notes/O-1.pdf", headers=keys["sales"]).status_code == 200


def test_settings_refuse_a_templates_dir_or_logo_that_is_not_there(tmp_path):
    from gateway import config as gateway_config
    from hubkit import settings as hub_settings

    with pytest.raises(hub_settings.SettingsError):
        hub_settings.load(gateway_config.Settings, {"HUB_PRINT_TEMPLATES_DIR": str(tmp_path / "missing")})
    with pytest.raises(hub_settings.SettingsError):
        hub_settings.load(gateway_config.Settings, {"HUB_MERCHANT_LOGO": str(tmp_path)})
    loaded = hub_settings.load(gateway_config.Settings, {"HUB_PRINT_TEMPLATES_DIR": str(tmp_path)})
    assert loaded.print_templates_dir == tmp_path
