"""The gateway's endpoints, one module per area."""
from gateway.routes import accounting, connectors, customers, ledger, orders, purchasing, stock, webhooks

ROUTERS = [orders.router, stock.router, customers.router, purchasing.router, accounting.router, ledger.router,
           connectors.router, webhooks.router]
