"""Orders: place, read, list, ship, return; the vouchers an order's shipment posted."""
