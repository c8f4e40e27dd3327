"""The one shape every city-usage schedule has: shortly after midnight in the configured time
zone, request the partition that contains yesterday (a day, or the month that holds it, so on
the 1st the month just closed is refreshed one last time).

Not `build_schedule_from_partitioned_job`: with `end_offset=1` its "last partition" is today.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

DAY = "%Y-%m-%d"
MONTH_OF_DAY = "%Y-%m-01"


def yesterday_schedule(
    name: str, job: dg.UnresolvedAssetJobDefinition, cron: str, timezone: str,
    description: str, key_format: str = DAY, *, run_key_prefix: str | None = None,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> dg.ScheduleDefinition:
    @dg.schedule(name=name, job=job, cron_schedule=cron, execution_timezone=timezone,
                 default_status=default_status, description=description)
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        yesterday = context.scheduled_execution_time - timedelta(days=1)
        key = yesterday.strftime(key_format)
        run_key = f"{run_key_prefix}:{key}" if run_key_prefix else None
        return dg.RunRequest(partition_key=key, run_key=run_key)

    return _schedule
