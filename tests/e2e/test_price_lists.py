"""Price lists through the gateway on the PostgreSQL hub: a file of two lists (a quantity break, a
channel list) imported through /imports, the price that applies asked with its reason, and an order
paid below the list price carries review's fact below_list_price (one at the price does not)."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import order_body, stock_sku, unique
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _facts(client, order_id) -> dict:
    [decision] = wait_for(lambda: client.get(f"/orders/{order_id}/decisions").json()["decisions"] or None,
                          60, 0.3, f"the decision on {order_id}")
    return decision["facts"]


def test_an_imported_price_list_prices_a_sku_and_review_sees_an_order_below_it(pg_hub):
    sku, base, tb = unique("PL"), unique("BASE"), unique("TB")
    rows = ["code,name,currency,channel,tier,valid_from,valid_to,sku,unit_price,min_quantity",
            f"{base},Base,,,,2020-01-01,,{sku},20.00,1",
            f"{base},,,,,,,{sku},18.00,10",
            f"{tb},Taobao,,taobao,,2020-01-01,,{sku},19.00,1"]
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, quantity=50)
        body = ("\r\n".join(rows) + "\r\n").encode()
        done = admin.post("/imports/price_lists", content=body, headers={"content-type": "text/csv"}, timeout=120)
        assert done.status_code == 200 and (done.json()["applied"], done.json()["errors"]) == (3, []), done.text
        again = admin.post("/imports/price_lists", content=body, headers={"content-type": "text/csv"}, timeout=120)
        assert again.json()["replayed"] is True

        price = admin.get("/price-lists/price", params={"sku": sku, "channel": "taobao", "quantity": 12}).json()
        assert (price["price_list"], price["unit_price"], price["scope"]) == (tb, "19.00", "channel")
        assert tb in price["explanation"] and len(price["considered"]) == 3
        jd = admin.get("/price-lists/price", params={"sku": sku, "channel": "jd", "quantity": 12}).json()
        assert (jd["price_list"], jd["unit_price"], jd["min_quantity"]) == (base, "18.00", 10)
        assert admin.get(f"/price-lists/{base}").json()["lines"] == [
            {"sku": sku, "unit_price": "20.00", "min_quantity": 1}, {"sku": sku, "unit_price": "18.00",
                                                                    "min_quantity": 10}]

        below = admin.post("/orders", json=order_body(sku, unique("PLO"), price="18.50")).json()["id"]
        at = admin.post("/orders", json=order_body(sku, unique("PLO"), price="19.00")).json()["id"]
        assert (_facts(admin, below)["below_list_price"], _facts(admin, at)["below_list_price"]) == (True, False)
