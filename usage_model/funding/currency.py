"""Money conversion: integer minor units of an ISO currency -> integer credits.

1 USD = 1,000,000 credits, so 1 US cent = 10,000 credits (the default table). Any other
currency needs a configured credits-per-minor-unit; an unconfigured one is an exception
(`unsupported_currency`), never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping

CREDITS_PER_USD = 1_000_000
DEFAULT_CREDITS_PER_MINOR: dict[str, int] = {"usd": CREDITS_PER_USD // 100}

class UnsupportedCurrency(ValueError):
    """No credits-per-minor-unit is configured for this currency."""


def parse_rates(text: str | None) -> dict[str, int]:
    """`"eur=11000,jpy=6500"` -> credits per minor unit, on top of the USD default."""
    rates = dict(DEFAULT_CREDITS_PER_MINOR)
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        code, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit() or int(value) <= 0:
            raise ValueError(f"credits-per-minor-unit {item!r}: expected CODE=positive integer")
        rates[code.strip().lower()] = int(value)
    return rates


def to_credits(amount_minor: int, currency: str, rates: Mapping[str, int]) -> int:
    """Integer credits for an integer amount in minor units."""
    code = (currency or "").lower()
    if code not in rates:
        raise UnsupportedCurrency(f"currency {code or '(none)'!r} has no configured "
                                  "credits-per-minor-unit")
    return int(amount_minor) * rates[code]
