"""Codes: made from ``secrets``, checked against an HMAC, never stored as they are.

A code must be sent more than once (a resend, or the next channel of the workflow after a failure)
and by whichever process dispatches it, so Qasid must be able to get it back; but no one who reads
the database should. Each verification therefore keeps two values, both keyed by the server secret
(``QASID_SECRET_KEY``) and by the verification's own random id:

- ``digest``: HMAC-SHA256 of the code, the only thing a check compares (in constant time);
- ``seal``: the code's digits shifted, digit by digit modulo 10, by a pad drawn from
  HMAC-SHA256(secret, "pad" + id): a one-time pad, since every id is new. The dispatcher opens it
  just before the message leaves; message rows hold ``{code}`` in its place.

Without the secret, neither gives the code away (better than a bare hash of a 6-digit code, which
a million guesses would break). A code the caller supplies is kept the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

MIN_LENGTH, MAX_LENGTH = 4, 10
PLACEHOLDER = "{code}"


class CodeBook:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the server secret must be at least 32 bytes")
        self._secret = secret

    @staticmethod
    def new(length: int) -> str:
        if not MIN_LENGTH <= length <= MAX_LENGTH:
            raise ValueError(f"codes are {MIN_LENGTH} to {MAX_LENGTH} digits")
        return f"{secrets.randbelow(10**length):0{length}d}"

    def digest(self, verification_id: str, code: str) -> str:
        message = f"check\x00{verification_id}\x00{code}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def matches(self, verification_id: str, code: str, digest: str) -> bool:
        return hmac.compare_digest(self.digest(verification_id, code), digest)

    def seal(self, verification_id: str, code: str) -> str:
        pad = self._pad(verification_id, len(code))
        return "".join(str((int(c) + p) % 10) for c, p in zip(code, pad, strict=True))

    def open(self, verification_id: str, sealed: str) -> str:
        pad = self._pad(verification_id, len(sealed))
        return "".join(str((int(c) - p) % 10) for c, p in zip(sealed, pad, strict=True))

    def _pad(self, verification_id: str, length: int) -> list[int]:
        # 256 bits give 77 decimal digits; the first ``length`` of them are uniform to within 10**-67.
        value = int.from_bytes(
            hmac.new(self._secret, f"pad\x00{verification_id}".encode(), "sha256").digest()
        )
        digits = []
        for _ in range(length):
            value, digit = divmod(value, 10)
            digits.append(digit)
        return digits
