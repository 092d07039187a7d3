from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
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


class TestRandomness:
    """Ids draw their randomness from os.urandom in blocks; no digits may ever be handed out twice."""

    def test_digits_are_hex_of_the_asked_length_across_block_boundaries(self):
        taken = [ids.random_hex(n) for n in (1, 7, 20, 32, 65_535, 20, 131_072, 131_073, 3)]
        assert [len(t) for t in taken] == [1, 7, 20, 32, 65_535, 20, 131_072, 131_073, 3]
        assert all(set(t) <= set("0123456789abcdef") for t in taken)

    def test_no_id_repeats_across_many_blocks(self):
        made = [ids.new_id("msg", 0) for _ in range(30_000)]  # 600,000 digits: several 64 KiB draws
        assert len(set(made)) == len(made)

    def test_threads_never_share_digits(self):
        def draw(_: int) -> list[str]:
            return [ids.random_hex(20) for _ in range(5_000)]

        with ThreadPoolExecutor(max_workers=4) as pool:
            drawn = [value for chunk in pool.map(draw, range(8)) for value in chunk]
        assert len(set(drawn)) == len(drawn) == 40_000

    def test_a_forked_child_does_not_repeat_its_parents_digits(self):
        ids.random_hex(2)  # the parent holds a partly used block
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report its next digits and leave at once
            os.write(writer, ids.random_hex(32).encode())
            os._exit(0)
        os.close(writer)
        child = os.read(reader, 64).decode()
        os.waitpid(pid, 0)
        os.close(reader)
        assert len(child) == 32
        assert child != ids.random_hex(32)
