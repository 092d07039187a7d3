"""The server secret: ``QASID_SECRET_KEY``, or a file made on first start.

Verification codes are kept as HMACs keyed by it (``qasid.otp.codes``), and webhook signing
secrets and connectors' credentials are sealed under it (``qasid.vault``), so every process of one
gateway must read the same secret. Losing it voids the codes in flight; the sealed secrets must
then be set again.

The file is made by the gateway on its first start and by ``qasid migrate``; the other commands
only read it (``create=False``), so that one run from another directory cannot mint a second
secret and seal with it what the gateway could then not open.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from qasid.settings import Settings

MIN_CHARACTERS = 32


class NoServerSecret(ValueError):
    """QASID_SECRET_KEY is unset and the secret file was not made yet (and is not to be made here)."""


def server_secret(settings: Settings, *, create: bool = True) -> bytes:
    """The secret; the file is made when it is missing unless ``create`` is false."""
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if len(value) < MIN_CHARACTERS:
            raise ValueError(f"QASID_SECRET_KEY must be at least {MIN_CHARACTERS} characters")
        return value.encode()
    path = settings.secret_key_file
    if not create and not path.exists():
        raise NoServerSecret(
            f"no server secret: QASID_SECRET_KEY is unset and {path.resolve()} does not exist. Run "
            "this where the gateway runs (it makes the file on its first start, as `qasid migrate` "
            "does), or point QASID_SECRET_KEY or QASID_SECRET_KEY_FILE at the gateway's secret"
        )
    return _from_file(path)


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
