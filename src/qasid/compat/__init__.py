"""The seed providers' API dialects: their clients switch to Qasid by changing the base URL and key.

Each dialect is a package of thin front doors, mounted under its own prefix (``QASID_DIALECTS``,
``qasid.compat.mounts``): it reads a request the way that provider documents it, calls the same
services as the native API (``qasid.api.v1``), and writes the answer, errors included, in that
provider's shapes. No business rule lives here: prices, senders, lists and limits are the native
ones. A dialect whose provider calls its customers back in its own way registers a webhook format
(``qasid.webhooks.formats``).
"""
