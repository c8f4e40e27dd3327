"""Usage domain wiring: assets, jobs, the daily schedule and the landing sensor.

Built from the partitions of the current settings when the definitions load (never at
import); `usage_defs.usage_events` and the other names below are read through `wiring()`.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

import dagster as dg

from assets.schedules import MONTH_OF_DAY, yesterday_schedule
from assets.usage.assets import LANDING, build_usage_events
from assets.usage.partitions import Partitions, partitions
from assets.usage.sensors import build_usage_landing_sensor, build_usage_rebuild_sensor
from assets.usage.summaries import build_daily_summaries, build_monthly_summaries


@cache
def _wiring(parts: Partitions) -> SimpleNamespace:
    daily_partitions, monthly_partitions = parts
    usage_events = build_usage_events(daily_partitions)
    daily_summaries = build_daily_summaries(daily_partitions)
    monthly_summaries = build_monthly_summaries(monthly_partitions)

    usage_daily_job = dg.define_asset_job(
        "usage_daily_job",
        selection=dg.AssetSelection.assets(usage_events, daily_summaries),
        description="Landing to curated events to daily summaries, for a day or a range of days.",
    )
    usage_monthly_job = dg.define_asset_job(
        "usage_monthly_job",
        selection=dg.AssetSelection.assets(monthly_summaries),
        description="Monthly rollups (exact distinct counts) for a month or a range of months.",
    )

    # Late files are handled by the sensor, which rebuilds exactly the days they touch.
    running = dg.DefaultScheduleStatus.RUNNING
    usage_daily_schedule = yesterday_schedule(
        "usage_daily_schedule", usage_daily_job, "20 0 * * *", daily_partitions.timezone,
        "Build yesterday's events and daily summaries.", run_key_prefix="daily",
        default_status=running)
    usage_monthly_refresh = yesterday_schedule(
        "usage_monthly_refresh", usage_monthly_job, "40 0 * * *", daily_partitions.timezone,
        "Daily refresh of the month that contains yesterday.", MONTH_OF_DAY,
        default_status=running)

    usage_landing_sensor = build_usage_landing_sensor(
        usage_daily_job, usage_monthly_job, daily_partitions, monthly_partitions
    )
    usage_rebuild_sensor = build_usage_rebuild_sensor(
        usage_daily_job, usage_monthly_job, daily_partitions, monthly_partitions
    )

    return SimpleNamespace(
        daily_partitions=daily_partitions, monthly_partitions=monthly_partitions,
        usage_events=usage_events, daily_summaries=daily_summaries,
        monthly_summaries=monthly_summaries, usage_daily_job=usage_daily_job,
        usage_monthly_job=usage_monthly_job, usage_daily_schedule=usage_daily_schedule,
        usage_monthly_refresh=usage_monthly_refresh, usage_landing_sensor=usage_landing_sensor,
        usage_rebuild_sensor=usage_rebuild_sensor)


def wiring() -> SimpleNamespace:
    """Assets, jobs, schedules and sensors for the partitions configured now."""
    return _wiring(partitions())


def __getattr__(name: str) -> object:
    try:
        return getattr(wiring(), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def definitions() -> dg.Definitions:
    w = wiring()
    return dg.Definitions(
        assets=[LANDING, w.usage_events, w.daily_summaries, w.monthly_summaries],
        jobs=[w.usage_daily_job, w.usage_monthly_job],
        schedules=[w.usage_daily_schedule, w.usage_monthly_refresh],
        sensors=[w.usage_landing_sensor, w.usage_rebuild_sensor],
    )
