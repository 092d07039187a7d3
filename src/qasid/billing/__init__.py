"""Money: the ledger (every charge, refund and top-up is a row) and the price list."""
