"""The native HTTP API (``/v1``): translation between HTTP and the services, nothing more."""
