"""The server secret: ``QASID_SECRET_KEY``, or a file made on first start.

Verification codes are kept as HMACs keyed by it (``qasid.otp.codes``), and webhook signing
secrets and connectors' credentials are sealed under it (``qasid.vault``), so every process of one
gateway must read the same secret. Losing it voids the codes in flight; the sealed secrets must
then be set again.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from qasid.settings import Settings

MIN_CHARACTERS = 32


def server_secret(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if len(value) < MIN_CHARACTERS:
            raise ValueError(f"QASID_SECRET_KEY must be at least {MIN_CHARACTERS} characters")
        return value.encode()
    return _from_file(settings.secret_key_file)


def _from_file(path: Path) -> bytes:
    """Read the file, or make it: written aside, then linked into place, so that processes starting
    together agree on one secret and never read a half-written file."""
    if not path.exists():
        value = secrets.token_urlsafe(48)
        aside = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(value + "\n")
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            aside.unlink()
    value = path.read_text().strip()
    if len(value) < MIN_CHARACTERS:
        raise ValueError(f"{path} must hold at least {MIN_CHARACTERS} characters")
    return value.encode()
