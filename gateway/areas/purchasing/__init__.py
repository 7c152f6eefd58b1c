"""Suppliers and purchase orders; receiving one adds stock at its cost and posts the purchase.
Purchase suggestions (from low stock) and lot alerts (expiring, held) tell buyers what to act on."""
