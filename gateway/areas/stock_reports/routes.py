"""Stock reports: on hand by bin and lot, stock card, ageing, slow movers, turnover, value at a date.
Dates are days in the merchant's time zone; money is a decimal string; absent values are null."""
from __future__ import annotations

import json

from fastapi import APIRouter, Query, Request, Response

from gateway.areas.stock_reports import exports
from gateway.areas.stock_reports.presenters import (
    ageing_json,
    forecast_json,
    movements_json,
    slow_movers_json,
    turnover_json,
)
from gateway.areas.stock_reports.schemas import (
    Movements,
    OnHand,
    SalesForecast,
    SlowMovers,
    StockAgeing,
    Turnover,
    ValueAt,
)
from gateway.common.access import ANYONE, STOCK_VALUE, allowed
from gateway.common.presenters import scalars, stock_values
from gateway.common.schemas import MAX_DAYS, OPT_DAY, OPT_MOMENT, WAREHOUSE
from hubapi.inventory.v1 import inventory_reports_pb2 as rep

router = APIRouter(prefix="/stock/reports", tags=["stock reports"])
# the filters' forms: a warehouse code (or nothing: all), a category of at most 64 printable characters
_WAREHOUSE = Query("", pattern=WAREHOUSE.replace("^", "^(", 1).replace("$", ")?$"), description="empty: all")
_CATEGORY = Query("", pattern=r"^[^\x00-\x1f\x7f]{0,64}$", description="empty: all")
_XLSX = {200: {"description": "an Excel workbook, as an attachment",
               "content": {exports.XLSX: {"schema": {"type": "string", "format": "binary"}}}}}


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


def _slow_movers(request: Request, md, days: int, warehouse: str, as_of: str, per_warehouse: bool, min_value: str,
                 min_days_in_stock: int, category: str) -> dict:
    reply = _reports(request).GetSlowMovers(rep.SlowMoverReportRequest(
        days=days, warehouse=warehouse, as_of=as_of, per_warehouse=per_warehouse, min_value=min_value,
        min_days_in_stock=min_days_in_stock, category=category), metadata=md)
    return slow_movers_json(reply)


_SLOW = dict(days=Query(..., ge=1, le=MAX_DAYS, description="no sale in these many days up to as_of"),
             as_of=Query("", pattern=OPT_DAY), per_warehouse=Query(False, description="a row per SKU and warehouse"),
             min_value=Query("", pattern=r"^(\d{1,12}(\.\d{1,2})?)?$", description="leave out rows worth less"),
             min_days_in_stock=Query(0, ge=0, le=MAX_DAYS, description="leave out rows whose oldest unit is younger"))


@router.get("/slow-movers", response_model=SlowMovers)
def slow_movers(request: Request, days: int = _SLOW["days"], warehouse: str = _WAREHOUSE,
                as_of: str = _SLOW["as_of"], per_warehouse: bool = _SLOW["per_warehouse"],
                min_value: str = _SLOW["min_value"], min_days_in_stock: int = _SLOW["min_days_in_stock"],
                category: str = _CATEGORY, md=allowed(STOCK_VALUE)):
    """SKUs (per warehouse, if asked) with stock and no sale in the `days` days up to as_of (default
    today): quantity, value, last sale date, days in stock (since the oldest unit on hand arrived);
    thresholds on value and days in stock."""
    return _slow_movers(request, md, days, warehouse, as_of, per_warehouse, min_value, min_days_in_stock, category)


@router.get("/slow-movers.xlsx", response_class=Response, responses=_XLSX)
def export_slow_movers(request: Request, days: int = _SLOW["days"], warehouse: str = _WAREHOUSE,
                       as_of: str = _SLOW["as_of"], per_warehouse: bool = _SLOW["per_warehouse"],
                       min_value: str = _SLOW["min_value"], min_days_in_stock: int = _SLOW["min_days_in_stock"],
                       category: str = _CATEGORY, md=allowed(STOCK_VALUE)):
    """The slow movers as an Excel workbook (what was asked on a second sheet)."""
    report = _slow_movers(request, md, days, warehouse, as_of, per_warehouse, min_value, min_days_in_stock, category)
    asked = {"days": days, "warehouse": warehouse or "(all)", "per_warehouse": per_warehouse,
             "min_value": min_value, "min_days_in_stock": min_days_in_stock, "category": category or "(all)"}
    return Response(exports.slow_movers(report, asked), media_type=exports.XLSX,
                    headers=exports.attachment(f"slow-movers-{report['as_of']}.xlsx"))


_PERIOD = dict(date_from=Query(..., pattern=OPT_DAY), date_to=Query(..., pattern=OPT_DAY),
               by=Query("sku", description="sku | category | warehouse"))


def _turnover(request: Request, md, date_from: str, date_to: str, by: str, warehouse: str, category: str) -> dict:
    reply = _reports(request).GetTurnover(rep.TurnoverReportRequest(
        date_from=date_from, date_to=date_to, by=by, warehouse=warehouse, category=category), metadata=md)
    return turnover_json(reply)


@router.get("/turnover", response_model=Turnover)
def turnover(request: Request, date_from: str = _PERIOD["date_from"], date_to: str = _PERIOD["date_to"],
             by: str = _PERIOD["by"], warehouse: str = _WAREHOUSE, category: str = _CATEGORY,
             md=allowed(STOCK_VALUE)):
    """Cost of goods issued / average stock value over date_from..date_to (at most 3660 days), per
    SKU, category or warehouse, and days of supply; the inputs of each figure are in the row."""
    return _turnover(request, md, date_from, date_to, by, warehouse, category)


@router.get("/turnover.xlsx", response_class=Response, responses=_XLSX)
def export_turnover(request: Request, date_from: str = _PERIOD["date_from"], date_to: str = _PERIOD["date_to"],
                    by: str = _PERIOD["by"], warehouse: str = _WAREHOUSE, category: str = _CATEGORY,
                    md=allowed(STOCK_VALUE)):
    """The turnover report as an Excel workbook (a total row; the period, filters and formulas on a second sheet)."""
    report = _turnover(request, md, date_from, date_to, by, warehouse, category)
    return Response(exports.turnover(report), media_type=exports.XLSX,
                    headers=exports.attachment(f"turnover-{report['date_from']}-{report['date_to']}.xlsx"))


_FC = dict(horizon=Query(..., ge=1, le=366, description="days ahead"),
           method=Query("moving_average", description="moving_average | exponential_smoothing | holt | holt_winters"),
           history_days=Query(30, ge=1, le=730, description="days of sales the forecast is made from"),
           as_of=Query("", pattern=OPT_DAY, description="the last day of history; default today"),
           window=Query(None, ge=1, le=730, description="moving_average; default: the whole history"),
           alpha=Query(None, ge=0, le=1), beta=Query(None, ge=0, le=1), gamma=Query(None, ge=0, le=1),
           season_length=Query(None, ge=2, le=365, description="holt_winters; default 7"))


def _forecast(request: Request, md, horizon: int, method: str, history_days: int, sku: str, warehouse: str,
              category: str, as_of: str, params: dict) -> dict:
    reply = _reports(request).GetSalesForecast(rep.SalesForecastReportRequest(
        horizon=horizon, method=method, history_days=history_days, sku=sku, warehouse=warehouse, category=category,
        as_of=as_of, params=json.dumps({k: v for k, v in params.items() if v is not None})), metadata=md)
    return forecast_json(reply)


@router.get("/forecast", response_model=SalesForecast)
def forecast(request: Request, horizon: int = _FC["horizon"], method: str = _FC["method"],
             history_days: int = _FC["history_days"], sku: str = "", warehouse: str = _WAREHOUSE,
             category: str = _CATEGORY, as_of: str = _FC["as_of"], window: int | None = _FC["window"],
             alpha: float | None = _FC["alpha"], beta: float | None = _FC["beta"],
             gamma: float | None = _FC["gamma"], season_length: int | None = _FC["season_length"],
             md=allowed(ANYONE)):
    """Per SKU, the units forecast for each of the next `horizon` days from its daily sales in the
    `history_days` days up to as_of, by the named method (the one replenishment forecasts with),
    with the parameters in force and the history it used. A parameter the method does not take is 422."""
    params = dict(window=window, alpha=alpha, beta=beta, gamma=gamma, season_length=season_length)
    return _forecast(request, md, horizon, method, history_days, sku, warehouse, category, as_of, params)


@router.get("/forecast.xlsx", response_class=Response, responses=_XLSX)
def export_forecast(request: Request, horizon: int = _FC["horizon"], method: str = _FC["method"],
                    history_days: int = _FC["history_days"], sku: str = "", warehouse: str = _WAREHOUSE,
                    category: str = _CATEGORY, as_of: str = _FC["as_of"], window: int | None = _FC["window"],
                    alpha: float | None = _FC["alpha"], beta: float | None = _FC["beta"],
                    gamma: float | None = _FC["gamma"], season_length: int | None = _FC["season_length"],
                    md=allowed(ANYONE)):
    """The sales forecast as an Excel workbook: a day per column, the history on a second sheet, the
    method and its parameters on a third."""
    params = dict(window=window, alpha=alpha, beta=beta, gamma=gamma, season_length=season_length)
    report = _forecast(request, md, horizon, method, history_days, sku, warehouse, category, as_of, params)
    return Response(exports.forecast(report), media_type=exports.XLSX,
                    headers=exports.attachment(f"forecast-{report['as_of']}-{report['method']}.xlsx"))


@router.get("/value-at", response_model=ValueAt)
def value_at(request: Request, as_of: str = Query("", pattern=OPT_MOMENT, description="YYYY-MM-DD (end of that day) or ISO time"),
             warehouse: str = "", md=allowed(STOCK_VALUE)):
    """Quantity and value per warehouse and SKU at a moment, from the stock ledger."""
    reply = _reports(request).GetStockValueAt(rep.ValueAtReportRequest(as_of=as_of, warehouse=warehouse), metadata=md)
    return {"as_of": reply.as_of, **stock_values(reply.rows),
            "total_quantity": reply.total_quantity, "total_value": reply.total_value}
