"""Sales KPIs from the books (the accounting service's sales facts, written with each voucher): the
sales and gross margin trend by day, week or month, or by channel, shop, SKU, category or region, and
the customers' ABC classes by revenue or margin; each as JSON or as an Excel workbook. A period is
required at both ends, at most about three years; anything the report cannot take is a 422 naming
the field."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from gateway.areas.kpis.presenters import abc_json, sales_json
from gateway.areas.kpis.schemas import CustomerAbc, SalesReport
from gateway.common.access import KPIS, allowed, clients
from gateway.common.schemas import OPT_DAY
from hubapi.accounting.v1 import accounting_service_pb2 as acc

router = APIRouter(prefix="/kpis", tags=["kpis"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WORKBOOK = {200: {"description": "an Excel workbook, as an attachment",
                  "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}}
_FROM = Query(..., alias="from", pattern=OPT_DAY, description="YYYY-MM-DD, included")
_TO = Query(..., pattern=OPT_DAY, description="YYYY-MM-DD, included; at most about three years after from")
_BY = Query("day", max_length=16, description="day | week | month | channel | shop | sku | category | region")
_MEASURE = Query("revenue", max_length=16, description="revenue | margin")
_A = Query("80", max_length=16, description="class A: the top customers making the first a% of the measure")
_B = Query("95", max_length=16, description="class B: those after them up to b% (0 < a < b <= 100)")


def _only():
    """A filter's query parameter; one instance per parameter (FastAPI names a shared one after its first use)."""
    return Query("", max_length=64, description="only this value; \"\" any")


def _sales_request(start, to, by, channel, shop, sku, category, region) -> acc.SalesReportRequest:
    return acc.SalesReportRequest(**{"from": start}, to=to, by=by, channel=channel, shop=shop, sku=sku,
                                  category=category, region=region)


def _abc_request(start, to, by, a, b, channel, shop) -> acc.CustomerAbcRequest:
    return acc.CustomerAbcRequest(**{"from": start}, to=to, by=by, a=a, b=b, channel=channel, shop=shop)


def _attachment(reply) -> Response:
    return Response(reply.xlsx, media_type=XLSX,
                    headers={"content-disposition": f'attachment; filename="{reply.filename}"'})


@router.get("/sales", response_model=SalesReport)
def sales(request: Request, start: str = _FROM, to: str = _TO, by: str = _BY, channel: str = _only(),
          shop: str = _only(), sku: str = _only(), category: str = _only(), region: str = _only(), md=allowed(KPIS)):
    """Sales and gross margin per day, week (its Monday) or month, or per channel, shop, SKU, category
    or region (the shipping province): list price, discounts, sales, returns, refunds, revenue,
    commissions, net revenue, cost of goods as issued, margin. Over a period the total's revenue,
    cost of goods and commissions are the trial balance's 6001, 6401 and 6601."""
    reply = clients(request).accounting.GetSalesReport(
        _sales_request(start, to, by, channel, shop, sku, category, region), metadata=md)
    return sales_json(reply)


@router.get("/sales.xlsx", response_class=Response, responses=WORKBOOK)
def export_sales(request: Request, start: str = _FROM, to: str = _TO, by: str = _BY, channel: str = _only(),
                 shop: str = _only(), sku: str = _only(), category: str = _only(), region: str = _only(), md=allowed(KPIS)):
    """The sales report as an Excel workbook, its total on the last row."""
    return _attachment(clients(request).accounting.ExportSalesReport(
        _sales_request(start, to, by, channel, shop, sku, category, region), metadata=md))


@router.get("/customers/abc", response_model=CustomerAbc)
def customer_abc(request: Request, start: str = _FROM, to: str = _TO, by: str = _MEASURE, a: str = _A, b: str = _B,
                 channel: str = _only(), shop: str = _only(), md=allowed(KPIS)):
    """Customers ranked by revenue or margin over the period, with their share, cumulative share and
    class: A the top customers that together reach a% (the one reaching it included), B up to b%, C the
    rest and any customer at zero or below."""
    return abc_json(clients(request).accounting.GetCustomerAbc(
        _abc_request(start, to, by, a, b, channel, shop), metadata=md))


@router.get("/customers/abc.xlsx", response_class=Response, responses=WORKBOOK)
def export_customer_abc(request: Request, start: str = _FROM, to: str = _TO, by: str = _MEASURE, a: str = _A,
                        b: str = _B, channel: str = _only(), shop: str = _only(), md=allowed(KPIS)):
    """The customers' ABC classes as an Excel workbook (the classes summed on a second sheet)."""
    return _attachment(clients(request).accounting.ExportCustomerAbc(
        _abc_request(start, to, by, a, b, channel, shop), metadata=md))
