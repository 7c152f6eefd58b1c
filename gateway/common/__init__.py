"""What several areas share: roles and clients, the model bases and shared models, and the
presenters of messages more than one area answers with (an order, a voucher, a stock level)."""
