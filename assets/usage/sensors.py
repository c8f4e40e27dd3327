"""The landing sensor: new or rewritten usage files rebuild exactly the days they touch; the
rebuild sensor: rebuilds the warehouse still owes (durable intents) when no run is honouring them.

The cursor is the newest change time (ctime, which a copy or an upload always sets) seen so
far. Each tick reads only the time column of files changed since, groups their days into
contiguous ranges, and asks for one single-run backfill per range (run keys make a retried
tick idempotent), plus the monthly rollups of the months touched.
"""

import hashlib
from datetime import date, timedelta
from typing import Any

import dagster as dg
import duckdb

from usage_model.config import Settings
from usage_model.usage import intents
from usage_model.usage.landing import days_in_file, list_landed_files
from usage_model.warehouse import WarehouseLocked, WarehouseMissing, connect

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def contiguous_ranges(days: set[date]) -> list[tuple[date, date]]:
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def partition_target(start: str, end: str) -> tuple[str | None, dict[str, str]]:
    """One partition key, or the tags of a single-run backfill over [start, end]."""
    if start == end:
        return start, {}
    return None, {RANGE_START: start, RANGE_END: end}


def range_request(job_name: str, start: str, end: str, run_key: str) -> dg.RunRequest:
    key, tags = partition_target(start, end)
    return dg.RunRequest(job_name=job_name, partition_key=key, run_key=run_key, tags=tags)


def recorded_files(settings: Settings) -> dict[str, tuple[int, int]] | None:
    """The manifest's (size, mtime) per landed path; None while a writer holds the warehouse."""
    try:
        with connect(settings.warehouse, read_only=True) as conn:
            rows = conn.execute("SELECT path, size_bytes, mtime_ns FROM usage_files").fetchall()
    except WarehouseMissing:
        return {}
    except WarehouseLocked:
        return None
    except duckdb.CatalogException:  # a warehouse without the usage tables yet
        return {}
    return {path: (size, mtime) for path, size, mtime in rows}


def _usage_sensor(name: str, jobs: list[Any], interval_s: int, description: str):
    """Both usage sensors: running by default, targeting the daily and the monthly job."""
    return dg.sensor(name=name, jobs=jobs, minimum_interval_seconds=interval_s,
                     default_status=dg.DefaultSensorStatus.RUNNING, description=description)


def build_usage_landing_sensor(
    daily_job: Any, monthly_job: Any, daily_partitions: dg.DailyPartitionsDefinition,
    monthly_partitions: dg.MonthlyPartitionsDefinition,
) -> dg.SensorDefinition:
    @_usage_sensor("usage_landing_sensor", [daily_job, monthly_job], 30,
                   "New or rewritten files under landing/usage/ rebuild the days they touch.")
    def usage_landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        settings = Settings.from_env()
        cursor = int(context.cursor or 0)
        listed = list_landed_files(settings.usage_landing_location())
        changed = [f for f in listed if f.ctime_ns > cursor]
        if not changed:
            return dg.SensorResult(skip_reason="no new landing files")
        recorded = recorded_files(settings)
        if recorded is None:  # a run is writing: look again next tick, cursor unchanged
            return dg.SensorResult(skip_reason="the warehouse is busy; files checked next tick")
        # Files a run (the CLI, `make demo`) has already read as they are now need no rebuild.
        seen_cursor = str(max(f.ctime_ns for f in changed))
        changed = [f for f in changed if recorded.get(f.path) != (f.size_bytes, f.mtime_ns)]
        if not changed:
            return dg.SensorResult(skip_reason="landed files are already built",
                                   cursor=seen_cursor)
        valid_days = set(daily_partitions.get_partition_keys())
        days: set[date] = set()
        for landed in changed:
            touched = days_in_file(landed.absolute, settings.timezone, landed.fs)
            outside = sorted(d for d in touched if d.isoformat() not in valid_days)
            if outside:
                context.log.warning(
                    f"{landed.path}: days {outside[0]}..{outside[-1]} are outside the "
                    "partitions (CITY_USAGE_PARTITION_START); not scheduled"
                )
            days.update(d for d in touched if d.isoformat() in valid_days)
        if not days:  # unreadable files only: one run of the latest day records them
            days.add(date.fromisoformat(daily_partitions.get_last_partition_key()))
        new_cursor = max(f.ctime_ns for f in changed)
        tick = hashlib.sha256(
            "".join(f"{f.path}:{f.ctime_ns}" for f in changed).encode()
        ).hexdigest()[:12]
        requests = [
            range_request(daily_job.name, s.isoformat(), e.isoformat(), f"{tick}:{s}:{e}")
            for s, e in contiguous_ranges(days)
        ]
        months = sorted({d.replace(day=1).isoformat() for d in days})
        valid_months = set(monthly_partitions.get_partition_keys())
        months = [m for m in months if m in valid_months]
        if months:
            requests.append(
                range_request(monthly_job.name, months[0], months[-1], f"{tick}:m:{months[0]}")
            )
        return dg.SensorResult(run_requests=requests, cursor=str(new_cursor))

    return usage_landing_sensor


def pending_rebuilds(
    settings: Settings, targets: list[str], partitions_def: dg.PartitionsDefinition
) -> tuple[set[date], str] | None:
    """Partitions of `partitions_def` with a pending rebuild intent for `targets`, and a
    marker of the pending set (when its newest intent was recorded); None while a writer
    holds the warehouse or before it exists (the intents stay: a later look finds them)."""
    try:
        with connect(settings.warehouse, read_only=True) as conn:
            days = intents.pending(conn, targets)
            marker = intents.last_recorded(conn)
    except (WarehouseLocked, WarehouseMissing, duckdb.CatalogException):
        return None
    keys = set(partitions_def.get_partition_keys())
    return {d for d in days if d.isoformat() in keys}, marker


_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def build_usage_rebuild_sensor(
    daily_job: Any, monthly_job: Any, daily_partitions: dg.DailyPartitionsDefinition,
    monthly_partitions: dg.MonthlyPartitionsDefinition,
) -> dg.SensorDefinition:
    @_usage_sensor(
        "usage_rebuild_sensor", [daily_job, monthly_job], 60,
        "Rebuilds the warehouse still owes (usage_rebuild_intents: a removed or changed file, a "
        "moved winner, a run that failed before building, summaries older than their events), "
        "when no usage run is under way to honour them.")
    def usage_rebuild_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        active = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=daily_job.name, statuses=_ACTIVE), limit=1
        ) or context.instance.get_runs(
            filters=dg.RunsFilter(job_name=monthly_job.name, statuses=_ACTIVE), limit=1
        )
        if active:  # every usage run honours all pending intents itself
            return dg.SensorResult(skip_reason="a usage run is under way")
        settings = Settings.from_env()
        daily = pending_rebuilds(
            settings, [intents.EVENTS, *intents.DAILY_TABLES], daily_partitions
        )
        monthly = pending_rebuilds(settings, list(intents.MONTHLY_TABLES), monthly_partitions)
        if daily is None or monthly is None:
            return dg.SensorResult(skip_reason="warehouse busy or not created yet")
        # The run key names the pending set: it is requested once, and a run that fails
        # leaves it to the next run of anything (or the next new intent).
        requests = [
            range_request(job.name, s.isoformat(), e.isoformat(), f"rebuild:{marker}:{s}:{e}")
            for job, (days, marker) in ((daily_job, daily), (monthly_job, monthly))
            for s, e in contiguous_ranges(days)
        ]
        if not requests:
            return dg.SensorResult(skip_reason="no pending rebuilds")
        return dg.SensorResult(run_requests=requests)

    return usage_rebuild_sensor
