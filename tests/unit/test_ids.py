from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from qasid.domain import ids

moments = st.integers(min_value=0, max_value=253_402_300_799_000)  # datetime stops at year 9999


class TestIds:
    def test_shape(self):
        value = ids.new_id("msg")
        assert value.startswith("msg_")
        assert len(value) == 36
        assert ids.is_valid("msg", value)

    def test_wrong_prefix_or_alphabet_is_invalid(self):
        value = ids.new_id("msg")
        assert not ids.is_valid("bat", value)
        assert not ids.is_valid("msg", value[:-1] + "g")  # not hex
        assert not ids.is_valid("msg", value[:-1] + "A")  # upper case is not what we issue
        assert not ids.is_valid("msg", value + "0")

    @given(moments, moments)
    def test_ids_sort_by_time(self, earlier, later):
        if earlier == later:
            return
        first, second = sorted((earlier, later))
        assert ids.new_id("msg", first) < ids.new_id("msg", second)

    @given(moments)
    def test_the_lower_bound_of_a_moment_is_at_or_below_every_id_made_then(self, ms):
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        bound = ids.lower_bound("msg", moment)
        assert bound <= ids.new_id("msg", ms)
        assert bound > ids.new_id("msg", ms - 1) if ms else True

    def test_many_ids_at_once_are_distinct_and_valid(self):
        made = ids.new_ids("msg", 1000, 1_700_000_000_000)
        assert len(set(made)) == 1000
        assert all(ids.is_valid("msg", m) for m in made)
        assert ids.lower_bound("msg", datetime.fromtimestamp(1_700_000_000, UTC)) <= min(made)
        assert ids.lower_bound(
            "msg", datetime.fromtimestamp(1_700_000_000, UTC) + timedelta(milliseconds=1)
        ) > max(made)
