"""Turns a presented API key into a ``Caller``, with a short cache in front of the database.

The stored key and account are cached for ``cache_seconds`` (default 2 s); the checks (hash,
revocation, expiry, suspension) run on every request against the cached rows. So a key revoked or
an account suspended by another process stops reading within that time, and expiry is exact.
Writes that spend money re-check the account in their own transaction (``messages.ops``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from anyio import to_thread

from qasid.accounts.records import Account, ApiKey, Caller
from qasid.accounts.service import check_key, key_prefix, lookup_key
from qasid.cache import TTLCache
from qasid.db import Database


class Authenticator:
    def __init__(self, db: Database, cache_seconds: float) -> None:
        self.db = db
        self._cache: TTLCache[str, tuple[ApiKey | None, Account | None]] = TTLCache(cache_seconds)

    async def authenticate(self, presented: str) -> Caller:
        prefix = key_prefix(presented)
        key, account = await self._cache.get_or_load(prefix, lambda: to_thread.run_sync(self._load, prefix))
        if key is None:
            self._cache.invalidate(prefix)  # never keep a miss: the key may be created next second
        return check_key(presented, key, account, datetime.now(UTC))

    def _load(self, prefix: str) -> tuple[ApiKey | None, Account | None]:
        with self.db.read() as conn:
            return lookup_key(conn, prefix)
