from __future__ import annotations

import asyncio

import pytest

from qasid.cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TestTTLCache:
    def test_values_expire(self):
        clock = Clock()
        cache: TTLCache[str, int] = TTLCache(2.0, clock=clock)
        cache.put("a", 1)
        clock.now = 1.9
        assert cache.get("a") == 1
        clock.now = 2.0
        assert cache.get("a") is None

    def test_zero_ttl_keeps_nothing(self):
        cache: TTLCache[str, int] = TTLCache(0)
        cache.put("a", 1)
        assert cache.get("a") is None

    def test_the_oldest_is_dropped_beyond_maxsize(self):
        cache: TTLCache[int, int] = TTLCache(10, maxsize=3)
        for n in range(4):
            cache.put(n, n)
        assert [cache.get(n) for n in range(4)] == [None, 1, 2, 3]

    async def test_concurrent_misses_share_one_load(self):
        cache: TTLCache[str, int] = TTLCache(10)
        loads = 0

        async def load() -> int:
            nonlocal loads
            loads += 1
            await asyncio.sleep(0.01)
            return 42

        assert await asyncio.gather(*(cache.get_or_load("k", load) for _ in range(20))) == [42] * 20
        assert loads == 1

    async def test_a_failed_load_fails_every_waiter_and_is_not_kept(self):
        cache: TTLCache[str, int] = TTLCache(10)

        async def load() -> int:
            await asyncio.sleep(0.01)
            raise RuntimeError("database down")

        results = await asyncio.gather(
            *(cache.get_or_load("k", load) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, RuntimeError) for r in results)
        assert cache.get("k") is None

        async def good() -> int:
            return 7

        assert await cache.get_or_load("k", good) == 7

    @pytest.mark.parametrize("ttl", [0.0, 5.0])
    async def test_get_or_load_returns_the_loaded_value(self, ttl):
        cache: TTLCache[str, int] = TTLCache(ttl)

        async def load() -> int:
            return 3

        assert await cache.get_or_load("k", load) == 3
