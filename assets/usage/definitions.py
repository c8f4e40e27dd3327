"""Usage domain wiring: assets, jobs, the daily schedule and the landing sensor.

Built from the partitions of the current settings when the definitions load (never at
import); `usage_defs.usage_events` and the other names below are read through `wiring()`.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from types import SimpleNamespace

import dagster as dg

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

    # The previous day, every day shortly after midnight in CITY_USAGE_TIMEZONE (late files are
    # handled by the sensor, which rebuilds exactly the days they touch). Not
    # build_schedule_from_partitioned_job: with end_offset=1 its "last partition" is today.
    @dg.schedule(
        name="usage_daily_schedule",
        job=usage_daily_job,
        cron_schedule="20 0 * * *",
        execution_timezone=daily_partitions.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Build yesterday's events and daily summaries.",
    )
    def usage_daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        yesterday = context.scheduled_execution_time - timedelta(days=1)
        key = yesterday.strftime("%Y-%m-%d")
        return dg.RunRequest(partition_key=key, run_key=f"daily:{key}")

    @dg.schedule(
        name="usage_monthly_refresh",
        job=usage_monthly_job,
        cron_schedule="40 0 * * *",
        execution_timezone=daily_partitions.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Daily refresh of the month that contains yesterday.",
    )
    def usage_monthly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        yesterday = context.scheduled_execution_time - timedelta(days=1)
        return dg.RunRequest(partition_key=yesterday.strftime("%Y-%m-01"))

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
