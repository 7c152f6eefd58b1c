"""Warehouse operations: bins, stock limits, bin moves, kit assembly, transfers between
warehouses, quality holds on lots, stock counts and the stock audit."""
