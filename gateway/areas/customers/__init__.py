"""Customers and their order history."""
