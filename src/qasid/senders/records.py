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


ANY = "*"


@dataclass(frozen=True, slots=True)
class Sender:
    id: str
    account_id: str
    name: str
    kind: SenderKind
    status: SenderStatus
    created_at: datetime
    updated_at: datetime
    purpose: str | None = None  # what the account said it is for
    reason: str | None = None  # why the operator rejected it


@dataclass(frozen=True, slots=True)
class Destination:
    """Where an approved sender may go (country and operator, or ANY), at its own price if set."""

    country: str
    operator: str
    price: int | None = None  # minor units per part; None: the account's prices

    def matches(self, country: str, operator: str | None) -> bool:
        return self.country in (ANY, country) and self.operator in (ANY, operator)

    @property
    def specificity(self) -> int:
        return (self.country != ANY) + (self.operator != ANY)


EVERYWHERE = Destination(ANY, ANY)


@dataclass(frozen=True, slots=True)
class SenderRules:
    """What the send path needs of one sender: its status, and where it may go (nowhere listed:
    everywhere, at the account's prices)."""

    status: SenderStatus
    destinations: tuple[Destination, ...] = ()

    def destination(self, country: str, operator: str | None) -> Destination | None:
        """The most specific destination that takes this number's country and operator; None when
        the sender is not approved for it."""
        if not self.destinations:
            return EVERYWHERE
        found = [d for d in self.destinations if d.matches(country, operator)]
        return max(found, key=lambda d: d.specificity) if found else None
