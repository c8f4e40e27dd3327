"""One shared set of partitions: a day (and a month) in CITY_USAGE_TIMEZONE.

`end_offset=1` makes today's partition exist, so files landing today build today's events.
"""

from __future__ import annotations

import dagster as dg

from usage_model.config import Settings

_settings = Settings.from_env()

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_settings.partition_start, timezone=_settings.timezone, end_offset=1
)
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=_settings.partition_start[:8] + "01", timezone=_settings.timezone, end_offset=1
)
