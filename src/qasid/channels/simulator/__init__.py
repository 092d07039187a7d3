"""The carrier simulator: a connector like any other, shipped with Qasid, used by ``make run`` and the
tests. See ``connector.py`` for what it does and its fixed test numbers."""
