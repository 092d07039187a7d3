from __future__ import annotations

import pytest

from qasid.domain.money import MoneyError, format_minor, to_minor


class TestToMinor:
    @pytest.mark.parametrize(
        ("amount", "currency", "units"),
        [
            ("12.50", "USD", 1250),
            ("100000", "IQD", 100_000),
            ("0.005", "KWD", 5),
            ("-3", "USD", -300),
            (" 7 ", "EUR", 700),
        ],
    )
    def test_exact_amounts(self, amount, currency, units):
        assert to_minor(amount, currency) == units

    @pytest.mark.parametrize(
        ("amount", "currency"),
        [("0.001", "USD"), ("1.5", "IQD"), ("abc", "USD"), ("NaN", "USD"), ("inf", "USD")],
    )
    def test_amounts_that_cannot_be_exact_are_refused(self, amount, currency):
        with pytest.raises(MoneyError):
            to_minor(amount, currency)

    def test_an_unknown_currency_is_refused(self):
        with pytest.raises(MoneyError, match="unknown currency"):
            to_minor("1", "XXX")


class TestFormat:
    @pytest.mark.parametrize(
        ("units", "currency", "shown"),
        [
            (1250, "USD", "12.50 USD"),
            (5, "USD", "0.05 USD"),
            (-1250, "USD", "-12.50 USD"),
            (25, "IQD", "25 IQD"),
            (1, "KWD", "0.001 KWD"),
        ],
    )
    def test_formatting(self, units, currency, shown):
        assert format_minor(units, currency) == shown
