"""Identifiers: a type prefix and 32 hex digits of 48 bits of millisecond time then 80 random bits
(the layout of a ULID, written in hex because ``bytes.hex`` is C and a base32 encoder is not).

Ids sort by creation time, so they serve as pagination cursors and as time bounds:
``lower_bound(prefix, t)`` is the smallest id of that prefix made at or after ``t``.

The randomness comes from ``os.urandom`` drawn 64 KiB at a time (``random_hex``). Each call to
``os.urandom`` gives up the GIL, and under load winning it back from the group-commit writer costs
far more than the call (up to the 5 ms switch interval); one draw serves thousands of ids. Ids are
names, not secrets: keys and codes take their randomness from ``secrets`` directly.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime

LENGTH = 32  # hex digits: 48 bits of time, 80 of randomness
_HEX = frozenset("0123456789abcdef")
_DRAW = 1 << 16  # bytes of randomness per os.urandom call


class _Entropy:
    """Hex digits from the OS's random source, drawn in large blocks; safe across threads and forks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = ""
        self._used = 0

    def take(self, digits: int) -> str:
        if digits > _DRAW:  # more than a block: draw it alone
            return os.urandom((digits + 1) // 2).hex()[:digits]
        with self._lock:
            end = self._used + digits
            if end > len(self._pool):
                self._pool, self._used, end = os.urandom(_DRAW).hex(), 0, digits
            taken, self._used = self._pool[self._used : end], end
        return taken

    def forget(self) -> None:
        """A forked child must not hand out its parent's digits again."""
        self._lock = threading.Lock()
        self._pool, self._used = "", 0


_entropy = _Entropy()
os.register_at_fork(after_in_child=_entropy.forget)


def random_hex(digits: int) -> str:
    """``digits`` random hex digits (4 bits each) from ``os.urandom``."""
    return _entropy.take(digits)


def new_id(prefix: str, now_ms: int | None = None) -> str:
    """A fresh id such as ``msg_0193f2c4a1b27e...``."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return f"{prefix}_{ms.to_bytes(6, 'big').hex()}{random_hex(20)}"


def new_ids(prefix: str, count: int, now_ms: int) -> list[str]:
    """``count`` fresh ids made at ``now_ms``."""
    head = f"{prefix}_{now_ms.to_bytes(6, 'big').hex()}"
    pool = random_hex(20 * count)
    return [head + pool[i : i + 20] for i in range(0, 20 * count, 20)]


def lower_bound(prefix: str, moment: datetime) -> str:
    """The smallest id with ``prefix`` that ``new_id`` can make at or after ``moment``."""
    return f"{prefix}_{round(moment.timestamp() * 1000).to_bytes(6, 'big').hex()}{'0' * 20}"


def is_valid(prefix: str, value: str) -> bool:
    """True when ``value`` has the shape of an id with ``prefix``."""
    head, sep, body = value.partition("_")
    return head == prefix and sep == "_" and len(body) == LENGTH and _HEX.issuperset(body)
