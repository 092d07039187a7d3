"""Secrets Qasid must be able to read back (webhook signing secrets), sealed for storage.

A database dump or backup alone does not reveal them: each value is encrypted with AES-256-GCM under a
key derived (HKDF-SHA256) from the server secret (``qasid.server_secret``), which lives outside the
database. A sealed value reads ``v1.<base64 of nonce and ciphertext>``. Losing the server secret
makes sealed values unreadable: endpoints then need a new secret (``qasid webhooks rotate``).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1."
_NONCE_BYTES = 12


class SealBroken(ValueError):
    """A sealed value that this server secret cannot open (another secret, or a damaged value)."""


class Vault:
    def __init__(self, server_secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"qasid vault v1").derive(
            server_secret
        )
        self._aead = AESGCM(key)

    def seal(self, plain: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plain.encode(), None)
        return _VERSION + base64.urlsafe_b64encode(sealed).decode()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(_VERSION):
            raise SealBroken("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(_VERSION) :])
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None).decode()
        except (InvalidTag, ValueError) as exc:
            raise SealBroken("the server secret cannot open this value") from exc
