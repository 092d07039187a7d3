"""The server secret: ``QASID_SECRET_KEY``, or a file made on first start.

Verification codes are kept as HMACs keyed by it (``qasid.otp.codes``), and webhook signing
secrets and connectors' credentials are sealed under it (``qasid.vault``), so every process of one
gateway must read the same secret. Losing it voids the codes in flight; the sealed secrets must
then be set again.

The file is made by the gateway on its first start and by ``qasid migrate``; the other commands
only read it (``create=False``), so that one run from another directory cannot mint a second
secret and seal with it what the gateway could then not open.

The database keeps the secret's fingerprint (``server_secret_check``), recorded by the first
process to start or by ``qasid migrate``. A process that reads another secret (another working
directory's file, another machine's environment) refuses to start (``check``): behind a load
balancer it would answer every code it did not make ``invalid``, and seal webhook and connector
secrets the other processes cannot open. Only ``qasid migrate --new-server-secret`` replaces it,
for a secret that is lost.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from qasid.models import server_secret_check
from qasid.settings import Settings

MIN_CHARACTERS = 32


class WrongServerSecret(ValueError):
    """This process read a server secret other than the one the gateway's data is keyed with."""


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


def fingerprint(secret: bytes) -> str:
    """What the database keeps of the secret: an HMAC under it, of a fixed text (nothing of it)."""
    return hmac.new(secret, b"qasid server secret check v1", hashlib.sha256).hexdigest()


def check(conn: Connection, settings: Settings, secret: bytes, *, replace: bool = False) -> bool:
    """Record ``secret``'s fingerprint if none is recorded (or, with ``replace``, in place of the
    recorded one), else raise ``WrongServerSecret`` unless it is the recorded one; whether it was
    recorded now. Processes starting together: the first insert wins, the others check against it."""
    mine = fingerprint(secret)
    now = datetime.now(UTC)
    if replace:
        conn.execute(delete(server_secret_check))
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    made = conn.execute(
        dialect_insert(server_secret_check)
        .values(id=1, fingerprint=mine, created_at=now)
        .on_conflict_do_nothing()
    ).rowcount
    found = conn.execute(select(server_secret_check.c.fingerprint)).scalar_one()
    if hmac.compare_digest(found, mine):
        return bool(made)
    source = (
        "QASID_SECRET_KEY" if settings.secret_key is not None else str(settings.secret_key_file.resolve())
    )
    raise WrongServerSecret(
        f"the server secret read from {source} is not the one this gateway's database was set up "
        "with. Every process of a gateway needs the same one: point QASID_SECRET_KEY or "
        "QASID_SECRET_KEY_FILE at it. If it is lost, `qasid migrate --new-server-secret` makes this "
        "one the gateway's: codes in flight stop working and sealed secrets must be set again "
        "(`qasid connectors set`, `qasid webhooks rotate`)"
    )
