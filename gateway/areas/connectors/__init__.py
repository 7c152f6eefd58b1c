"""The shop connectors: each shop's pull state, the orders held as exceptions, and the SKU
mappings that release them."""
