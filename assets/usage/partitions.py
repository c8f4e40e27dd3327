"""One shared set of partitions: a day (and a month) in CITY_USAGE_TIMEZONE.

`end_offset=1` makes today's partition exist, so files landing today build today's events.
Built when the definitions load (never at import): `partitions()` reads the settings of
that moment; the module attributes `daily_partitions` / `monthly_partitions` do the same.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import dagster as dg

from usage_model.config import Settings


class Partitions(NamedTuple):
    daily: dg.DailyPartitionsDefinition
    monthly: dg.MonthlyPartitionsDefinition


def partitions(settings: Settings | None = None) -> Partitions:
    settings = settings or Settings.from_env()
    return _build(settings.partition_start, settings.timezone)


@cache  # one object per (start, zone): assets built twice in a process share their partitions
def _build(start: str, timezone: str) -> Partitions:
    return Partitions(
        dg.DailyPartitionsDefinition(start_date=start, timezone=timezone, end_offset=1),
        dg.MonthlyPartitionsDefinition(start_date=start[:8] + "01", timezone=timezone,
                                       end_offset=1),
    )


def __getattr__(name: str) -> object:
    if name == "daily_partitions":
        return partitions().daily
    if name == "monthly_partitions":
        return partitions().monthly
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
