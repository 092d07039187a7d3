"""The ``qasid`` command: run the gateway and administer it."""
