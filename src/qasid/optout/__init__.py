"""Who must not be sent to: numbers that opted out of an account's messages (the stop-list) and
numbers blocked by an account or by the operator (the block-list)."""
