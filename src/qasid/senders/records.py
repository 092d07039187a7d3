"""Sender IDs as other layers see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class SenderKind(StrEnum):
    ALPHANUMERIC = "alphanumeric"
    NUMERIC = "numeric"


class SenderStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Sender:
    id: str
    account_id: str
    name: str
    kind: SenderKind
    status: SenderStatus
    created_at: datetime
    updated_at: datetime
