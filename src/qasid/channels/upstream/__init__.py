"""Connectors to upstream HTTP providers, in the seed providers' own dialects: Qasid sending through
an account it holds at such a provider (or at another Qasid, which speaks the same dialects)."""
