"""The gateway's endpoints, one module per area."""
from gateway.routes import accounting, customers, ledger, orders, purchasing, stock

ROUTERS = [orders.router, stock.router, customers.router, purchasing.router, accounting.router, ledger.router]
