"""Accounts (who pays) and their API keys (how they prove it)."""
