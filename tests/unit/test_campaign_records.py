"""Quiet hours in each recipient's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qasid.campaigns.records import QuietHours, clock, zone_of

NIGHT = QuietHours(clock("21:00"), clock("09:00"))  # crosses midnight
LUNCH = QuietHours(clock("12:00"), clock("13:30"))


class TestQuietHours:
    def test_a_number_has_its_countrys_time_zone(self):
        assert zone_of("+9647701234567") == "Asia/Baghdad"
        assert zone_of("+12125551234") == "America/New_York"
        assert zone_of("+14155551234") == "America/Los_Angeles"  # the same country, another zone

    @pytest.mark.parametrize(
        ("utc", "until"),
        [
            (
                datetime(2026, 12, 6, 19, 0, tzinfo=UTC),
                datetime(2026, 12, 7, 6, 0, tzinfo=UTC),
            ),  # 22:00 in Baghdad
            (datetime(2026, 12, 6, 3, 0, tzinfo=UTC), datetime(2026, 12, 6, 6, 0, tzinfo=UTC)),  # 06:00 there
            (datetime(2026, 12, 6, 6, 0, tzinfo=UTC), None),  # 09:00 there: over
            (datetime(2026, 12, 6, 12, 0, tzinfo=UTC), None),  # 15:00 there
        ],
    )
    def test_a_window_across_midnight(self, utc: datetime, until: datetime | None):
        assert NIGHT.until("+9647701234567", utc) == until

    def test_a_window_within_a_day_and_another_zone(self):
        noon_in_new_york = datetime(2026, 12, 6, 17, 15, tzinfo=UTC)  # 12:15 EST
        assert LUNCH.until("+12125551234", noon_in_new_york) == datetime(2026, 12, 6, 18, 30, tzinfo=UTC)
        assert LUNCH.until("+9647701234567", noon_in_new_york) is None  # 20:15 in Baghdad

    def test_a_clock_must_be_a_time_of_day(self):
        with pytest.raises(ValueError, match="not a time of day"):
            clock("25:00")
