"""Stock reports: on hand by bin and lot, stock card, ageing, slow movers, turnover, value at a date.
Dates are days in the merchant's time zone; money is a decimal string; absent values are null."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from gateway.areas.stock_reports.presenters import ageing_json, movements_json, turnover_json
from gateway.areas.stock_reports.schemas import Movements, OnHand, SlowMovers, StockAgeing, Turnover, ValueAt
from gateway.common.access import ANYONE, STOCK_VALUE, allowed
from gateway.common.presenters import scalars, stock_values
from gateway.common.schemas import MAX_DAYS, OPT_DAY, OPT_MOMENT
from hubapi.inventory.v1 import inventory_reports_pb2 as rep

router = APIRouter(prefix="/stock/reports", tags=["stock reports"])


def _reports(request: Request):
    return request.app.state.clients.inventory_reports


@router.get("/on-hand", response_model=OnHand)
def on_hand(request: Request, warehouse: str = "", sku: str = "",
            by: str = Query("bin", description="bin | lot | warehouse"), md=allowed(ANYONE)):
    """Units per warehouse, SKU, bin and lot, with lot expiry and status (zero rows left out)."""
    reply = _reports(request).GetOnHand(rep.OnHandReportRequest(warehouse=warehouse, sku=sku, by=by), metadata=md)
    return {"rows": [scalars(r, "expires_on", "status") for r in reply.rows]}


@router.get("/movements/{sku}", response_model=Movements)
def movements(sku: str, request: Request, warehouse: str = "", limit: int = Query(500, ge=1, le=5000),
              md=allowed(STOCK_VALUE)):
    """Stock card: the latest `limit` ledger lines, oldest first, with running quantity and value."""
    reply = _reports(request).GetMovementHistory(
        rep.MovementReportRequest(sku=sku, warehouse=warehouse, limit=limit), metadata=md)
    return movements_json(reply)


@router.get("/ageing", response_model=StockAgeing)
def ageing(request: Request, warehouse: str = "", as_of: str = Query("", pattern=OPT_DAY),
           buckets: str = Query("", pattern=r"^(\d{1,5}(,\d{1,5})*)?$", description="e.g. 30,60,90"),
           md=allowed(STOCK_VALUE)):
    """Remaining cost-layer stock in age buckets (days since received); in-transit stock left out."""
    reply = _reports(request).GetStockAgeing(rep.AgeingReportRequest(
        warehouse=warehouse, as_of=as_of, buckets=[int(b) for b in buckets.split(",") if b]), metadata=md)
    return ageing_json(reply)


@router.get("/slow-movers", response_model=SlowMovers)
def slow_movers(request: Request, days: int = Query(..., ge=1, le=MAX_DAYS), warehouse: str = "",
                as_of: str = Query("", pattern=OPT_DAY), md=allowed(STOCK_VALUE)):
    """SKUs with stock and no sale in the `days` days up to as_of (default today)."""
    reply = _reports(request).GetSlowMovers(
        rep.SlowMoverReportRequest(days=days, warehouse=warehouse, as_of=as_of), metadata=md)
    return {"as_of": reply.as_of, "rows": [scalars(r, "last_issue_on", "days_since_issue") for r in reply.rows]}


@router.get("/turnover", response_model=Turnover)
def turnover(request: Request, date_from: str = Query(..., pattern=OPT_DAY), date_to: str = Query(..., pattern=OPT_DAY),
             by: str = Query("sku", description="sku | category"), warehouse: str = "", md=allowed(STOCK_VALUE)):
    """Cost of goods issued / average stock value over date_from..date_to, and days of supply."""
    reply = _reports(request).GetTurnover(
        rep.TurnoverReportRequest(date_from=date_from, date_to=date_to, by=by, warehouse=warehouse), metadata=md)
    return turnover_json(reply)


@router.get("/value-at", response_model=ValueAt)
def value_at(request: Request, as_of: str = Query("", pattern=OPT_MOMENT, description="YYYY-MM-DD (end of that day) or ISO time"),
             warehouse: str = "", md=allowed(STOCK_VALUE)):
    """Quantity and value per warehouse and SKU at a moment, from the stock ledger."""
    reply = _reports(request).GetStockValueAt(rep.ValueAtReportRequest(as_of=as_of, warehouse=warehouse), metadata=md)
    return {"as_of": reply.as_of, **stock_values(reply.rows),
            "total_quantity": reply.total_quantity, "total_value": reply.total_value}
