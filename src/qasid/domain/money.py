"""Money in integer minor units of a currency; never floats.

Each currency has an exponent: the number of decimal places its minor unit stands for. Qasid follows
ISO 4217 except for the Iraqi dinar: ISO gives IQD three decimals (fils), but fils left circulation
decades ago and every Iraqi price list, including the providers Qasid replaces, counts whole dinars.
So 1 IQD is one unit here.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

EXPONENTS: dict[str, int] = {
    "IQD": 0,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "AED": 2,
    "SAR": 2,
    "TRY": 2,
    "EGP": 2,
    "IRR": 0,
    "JOD": 3,
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
}


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


def exponent(currency: str) -> int:
    try:
        return EXPONENTS[currency]
    except KeyError:
        known = ", ".join(sorted(EXPONENTS))
        raise MoneyError(f"unknown currency {currency!r}; known: {known}") from None


def to_minor(amount: str, currency: str) -> int:
    """``"12.50"`` USD -> 1250. Refuses more decimals than the currency has."""
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        raise MoneyError(f"{amount!r} is not a number") from None
    if not value.is_finite():
        raise MoneyError(f"{amount!r} is not a finite amount")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{amount!r} has more decimals than {currency} allows ({exponent(currency)})")
    return int(scaled)


def to_major(units: int, currency: str) -> int | float:
    """1250 USD -> 12.5, 200 IQD -> 200: an amount as a JSON number in whole units, for the dialects
    whose providers answer that way."""
    exp = exponent(currency)
    return units if exp == 0 else float(Decimal(units).scaleb(-exp))


def format_minor(units: int, currency: str) -> str:
    """1250 USD -> ``"12.50 USD"``."""
    exp = exponent(currency)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**exp) if exp else (abs(units), 0)
    body = f"{whole}.{frac:0{exp}d}" if exp else str(whole)
    return f"{sign}{body} {currency}"
