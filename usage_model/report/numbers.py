"""Numbers formatted for reading: thousands separators, percentages, credits beside USD.

1 USD = 1,000,000 credits (the event model's unit), so a credit amount is always shown with
its dollar value next to it.
"""

from __future__ import annotations

CREDITS_PER_USD = 1_000_000


def count(value: int | float | None) -> str:
    """`12,345`; a float keeps one decimal (`1,234.5`); None is an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def millis(value: float | None) -> str:
    """A duration in milliseconds with one decimal: `5,809.8`."""
    return "—" if value is None else f"{value:,.1f}"


def plural(value: int, noun: str) -> str:
    """`1 file`, `2 files`, `1,024 rows`."""
    return f"{value:,} {noun}" + ("" if value == 1 else "s")


def percent(value: float | None) -> str:
    """A rate in [0, 1] as `3.92%`."""
    return "—" if value is None else f"{value * 100:.2f}%"


def usd(credits: int | None) -> str:
    """Credits as dollars: `$941.91`; negative amounts keep their sign (`-$5.00`)."""
    if credits is None:
        return "—"
    sign = "-" if credits < 0 else ""
    return f"{sign}${abs(credits) / CREDITS_PER_USD:,.2f}"


def credits(value: int | None) -> str:
    """`941,910,036 credits ($941.91)`."""
    return "—" if value is None else f"{value:,} credits ({usd(value)})"
