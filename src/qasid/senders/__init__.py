"""Sender IDs: the alphanumeric names and numbers an account may send from."""
