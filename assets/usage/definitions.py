"""Usage domain wiring: assets, jobs, the daily schedule and the landing sensor."""


from datetime import timedelta

import dagster as dg

from assets.usage.assets import LANDING, build_usage_events
from assets.usage.partitions import daily_partitions, monthly_partitions
from assets.usage.sensors import build_usage_landing_sensor, build_usage_rebuild_sensor
from assets.usage.summaries import build_daily_summaries, build_monthly_summaries

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


def definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[LANDING, usage_events, daily_summaries, monthly_summaries],
        jobs=[usage_daily_job, usage_monthly_job],
        schedules=[usage_daily_schedule, usage_monthly_refresh],
        sensors=[usage_landing_sensor, usage_rebuild_sensor],
    )
