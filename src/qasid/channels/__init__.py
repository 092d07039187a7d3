"""Connectors: one small interface (``base.Connector``) between the dispatcher and every carrier or
provider, and a typed registry of the kinds there are (``registry``)."""
