"""Storefronts push their orders here, signed, instead of being pulled (the signature check is
gateway.webhooks)."""
