"""``python -m qasid`` is the ``qasid`` command."""

from qasid.cli.main import app

app()
