"""Stock: SKUs (units, tracking, costing, barcodes, kits), warehouses, receipts into bins, lots
and serials, adjustments and write-offs, levels and value."""
