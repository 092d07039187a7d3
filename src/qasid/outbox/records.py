"""Jobs and the policy for retrying them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum


class JobKind(StrEnum):
    DISPATCH = "dispatch"  # hand a message to a connector
    EXPIRE = "expire"  # end a sent message that was never reported on
    FALLBACK = "fallback"  # a verification's code was not delivered in time: try the next channel


class Lane(IntEnum):
    """Which due jobs are claimed first: all of lane 0 before any of lane 1."""

    URGENT = 0  # one-time codes: the person is waiting for them
    NORMAL = 1


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: JobKind
    message_id: str | None
    attempts: int
    run_at: datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits a random time up to
    ``min(cap, base * 2**n)`` seconds (AWS's "full jitter", which spreads a burst of retries)."""

    base_seconds: float = 1.0
    cap_seconds: float = 300.0

    def delay(self, attempts: int, draw: float | None = None) -> timedelta:
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** min(attempts, 30))
        fraction = random.random() if draw is None else draw  # noqa: S311 - jitter, not a secret
        return timedelta(seconds=max(self.base_seconds / 10, ceiling * fraction))
