from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qasid.domain.states import (
    FINAL,
    MessageStatus,
    advance,
    aggregate,
    from_smpp_message_state,
    from_smpp_stat,
    is_charged,
    rank,
)

S = MessageStatus
statuses = st.sampled_from(list(MessageStatus))


class TestAdvance:
    @given(statuses, st.lists(statuses, max_size=12))
    def test_any_sequence_of_reports_only_moves_forward(self, start, reports):
        current = start
        for report in reports:
            moved = advance(current, report)
            if moved is not None:
                assert rank(moved) > rank(current)
                assert current not in FINAL
                current = moved

    @given(statuses)
    def test_a_final_state_is_final(self, report):
        for final in FINAL:
            assert advance(final, report) is None

    def test_a_late_sent_after_delivered_changes_nothing(self):
        assert advance(S.DELIVERED, S.SENT) is None

    def test_a_duplicate_report_changes_nothing(self):
        assert advance(S.SENT, S.SENT) is None

    def test_delivery_follows_sending(self):
        assert advance(S.SENT, S.DELIVERED) == S.DELIVERED

    def test_a_report_may_skip_states(self):
        assert advance(S.ACCEPTED, S.DELIVERED) == S.DELIVERED

    def test_only_a_scheduled_message_can_be_canceled(self):
        assert advance(S.SCHEDULED, S.CANCELED) == S.CANCELED
        assert advance(S.ACCEPTED, S.CANCELED) is None
        assert advance(S.SENT, S.CANCELED) is None


class TestAggregate:
    def test_all_parts_delivered(self):
        assert aggregate([S.DELIVERED, S.DELIVERED, S.DELIVERED]) == S.DELIVERED

    def test_some_parts_delivered(self):
        assert aggregate([S.DELIVERED, S.UNDELIVERED]) == S.PARTIALLY_DELIVERED

    def test_a_part_still_travelling_holds_the_message(self):
        assert aggregate([S.DELIVERED, S.SENT]) == S.SENT

    def test_every_part_refused(self):
        assert aggregate([S.REJECTED, S.REJECTED]) == S.REJECTED

    def test_refused_and_undelivered_parts(self):
        assert aggregate([S.REJECTED, S.UNDELIVERED]) == S.UNDELIVERED

    def test_every_part_expired(self):
        assert aggregate([S.EXPIRED, S.EXPIRED]) == S.EXPIRED

    def test_one_part(self):
        assert aggregate([S.UNDELIVERED]) == S.UNDELIVERED

    def test_no_parts_is_an_error(self):
        with pytest.raises(ValueError, match="at least one part"):
            aggregate([])

    @given(st.lists(statuses, min_size=1, max_size=6))
    def test_the_aggregate_is_final_exactly_when_every_part_is(self, parts):
        assert (aggregate(parts) in FINAL) == all(p in FINAL for p in parts)


class TestCharging:
    @pytest.mark.parametrize("final", [S.DELIVERED, S.PARTIALLY_DELIVERED, S.UNDELIVERED])
    def test_what_reached_the_network_is_charged(self, final):
        assert is_charged(final, was_sent=True)

    @pytest.mark.parametrize("final", [S.FAILED, S.REJECTED, S.CANCELED])
    def test_what_never_reached_the_network_is_refunded(self, final):
        assert not is_charged(final, was_sent=False)

    def test_expiry_is_charged_only_after_sending(self):
        assert is_charged(S.EXPIRED, was_sent=True)
        assert not is_charged(S.EXPIRED, was_sent=False)


class TestSmpp:
    @pytest.mark.parametrize(
        ("stat", "state"),
        [
            ("DELIVRD", S.DELIVERED),
            ("UNDELIV", S.UNDELIVERED),
            ("REJECTD", S.REJECTED),
            ("EXPIRED", S.EXPIRED),
            ("ACCEPTD", S.SENT),
            ("ENROUTE", S.SENT),
            ("delivrd", S.DELIVERED),
            ("GARBAGE", S.UNDELIVERED),
        ],
    )
    def test_receipt_words(self, stat, state):
        assert from_smpp_stat(stat) == state

    def test_message_state_tlv(self):
        assert from_smpp_message_state(2) == S.DELIVERED
        assert from_smpp_message_state(8) == S.REJECTED
        assert from_smpp_message_state(99) == S.UNDELIVERED
