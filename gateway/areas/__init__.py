"""The gateway's endpoints, one package per area: schemas.py (its request and response models),
routes.py, and presenters.py (its gRPC messages as JSON) when it has its own. What several areas
share is in gateway.common, never imported from another area."""
from gateway.areas.accounting import routes as accounting
from gateway.areas.audit import routes as audit
from gateway.areas.connectors import routes as connectors
from gateway.areas.customers import routes as customers
from gateway.areas.imports import routes as imports
from gateway.areas.kpis import routes as kpis
from gateway.areas.ledger import routes as ledger
from gateway.areas.notifications import routes as notifications
from gateway.areas.orders import routes as orders
from gateway.areas.prices import routes as prices
from gateway.areas.printing import routes as printing
from gateway.areas.purchasing import routes as purchasing
from gateway.areas.review import routes as review
from gateway.areas.scan import routes as scan
from gateway.areas.stock import routes as stock
from gateway.areas.stock_reports import routes as stock_reports
from gateway.areas.warehouse import routes as warehouse
from gateway.areas.waves import routes as waves
from gateway.areas.webhooks import routes as webhooks

# Matched in this order: warehouse before stock, so that GET /stock/audit wins over GET /stock/{sku}.
ROUTERS = [warehouse.router, scan.router, orders.router, stock.router, customers.router, purchasing.router,
           accounting.router, audit.router, ledger.router, connectors.router, webhooks.router, stock_reports.router,
           review.router, waves.router, notifications.router, kpis.router,
           printing.router, imports.router, prices.router]
