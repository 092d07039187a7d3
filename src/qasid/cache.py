"""A small time-bounded cache for values that are read on every request and change rarely
(API keys, price lists, sender IDs). Concurrent misses for one key share a single load."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """Keeps up to ``maxsize`` values for ``ttl`` seconds each; ``ttl=0`` keeps nothing."""

    def __init__(
        self, ttl: float, maxsize: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.maxsize = maxsize
        self._clock = clock
        self._values: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._loading: dict[K, asyncio.Future[V]] = {}

    def get(self, key: K) -> V | None:
        found = self._values.get(key)
        if found is None:
            return None
        if found[0] <= self._clock():
            del self._values[key]
            return None
        return found[1]

    def put(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        self._values[key] = (self._clock() + self.ttl, value)
        self._values.move_to_end(key)
        while len(self._values) > self.maxsize:
            self._values.popitem(last=False)

    def invalidate(self, key: K) -> None:
        self._values.pop(key, None)

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, or the result of ``load()`` (one load at a time per key)."""
        found = self.get(key)
        if found is not None:
            return found
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._loading.pop(key, None)
        self.put(key, value)
        future.set_result(value)
        return value
