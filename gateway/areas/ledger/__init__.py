"""The external ledgers: where vouchers stand, the ones a ledger refused, and the fixes."""
