"""Routing: the configured connectors and the routes that choose among them."""
