"""Identifiers: a type prefix and 32 hex digits of 48 bits of millisecond time then 80 random bits
(the layout of a ULID, written in hex because ``bytes.hex`` is C and a base32 encoder is not).

Ids sort by creation time, so they serve as pagination cursors and as time bounds:
``lower_bound(prefix, t)`` is the smallest id of that prefix made at or after ``t``.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

LENGTH = 32  # hex digits: 48 bits of time, 80 of randomness
_HEX = frozenset("0123456789abcdef")


def new_id(prefix: str, now_ms: int | None = None) -> str:
    """A fresh id such as ``msg_0193f2c4a1b27e...``."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return f"{prefix}_{ms.to_bytes(6, 'big').hex()}{os.urandom(10).hex()}"


def new_ids(prefix: str, count: int, now_ms: int) -> list[str]:
    """``count`` fresh ids made at ``now_ms``, with one call for all their randomness."""
    head = f"{prefix}_{now_ms.to_bytes(6, 'big').hex()}"
    pool = os.urandom(10 * count).hex()
    return [head + pool[i : i + 20] for i in range(0, 20 * count, 20)]


def lower_bound(prefix: str, moment: datetime) -> str:
    """The smallest id with ``prefix`` that ``new_id`` can make at or after ``moment``."""
    return f"{prefix}_{round(moment.timestamp() * 1000).to_bytes(6, 'big').hex()}{'0' * 20}"


def is_valid(prefix: str, value: str) -> bool:
    """True when ``value`` has the shape of an id with ``prefix``."""
    head, sep, body = value.partition("_")
    return head == prefix and sep == "_" and len(body) == LENGTH and _HEX.issuperset(body)
