"""What a campaign is made of: its states and its quiet hours."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as number_zones


class CampaignStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its start
    RUNNING = "running"  # being made into messages
    PAUSED = "paused"  # held (by the account, or because the money ran out); resume goes on
    CANCELED = "canceled"  # stopped for good; messages it held for quiet hours are refunded
    DONE = "done"  # every recipient has its message (or was skipped)


MOVING = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING})
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_FALLBACK_ZONE = "UTC"


def clock(text: str) -> time:
    """``"21:30"`` as a time of day; ValueError otherwise."""
    found = _CLOCK.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a time of day (HH:MM, 24 hours)")
    return time(int(found[1]), int(found[2]))


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A window of the day, in each recipient's own time zone, when nothing is sent to them; it may
    cross midnight (21:00 to 09:00)."""

    start: time
    end: time

    def holds(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def until(self, number: str, now: datetime) -> datetime | None:
        """When the quiet hours end for ``number`` (UTC), or None when they are not on now."""
        zone = ZoneInfo(zone_of(number))
        local = now.astimezone(zone)
        if not self.holds(local.time()):
            return None
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)


_ZONES: dict[str, str] = {}


def zone_of(number: str) -> str:
    """The time zone of an E.164 number (its first, where there are several), looked up once per
    seven-character prefix: the country code and a few digits more, which is where countries with
    several zones tell them apart."""
    prefix = number[:7]
    found = _ZONES.get(prefix)
    if found is None:
        found = _ZONES[prefix] = _lookup(number)
    return found


def _lookup(number: str) -> str:
    try:
        zones = number_zones.time_zones_for_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return _FALLBACK_ZONE
    known = [zone for zone in zones if zone != "Etc/Unknown"]
    return known[0] if known else _FALLBACK_ZONE
