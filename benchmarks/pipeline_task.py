"""The real pipeline, in-process: `dagster.materialize` of the real assets over a day range,
with step times read back from the Dagster event log (STEP_START -> STEP_SUCCESS)."""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

from assets.resources import CityUsageSettings, WarehouseResource
from assets.usage import definitions as usage_defs
from usage_model.config import Settings

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
ASSETS = {
    "events": [usage_defs.usage_events],
    "summaries": [usage_defs.daily_summaries],
    "both": [usage_defs.usage_events, usage_defs.daily_summaries],
    "monthly": [usage_defs.monthly_summaries],
}


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds from STEP_START to STEP_SUCCESS of each asset node, from the run's event log.
    A graph-backed asset's steps (`build_usage_events.plan_reads`, `….read_files[0]`, …)
    count as their node: from its first step's start to its last step's success."""
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        node = event.step_key.split(".", 1)[0]
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[node] = min(started.get(node, entry.timestamp), entry.timestamp)
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            ended[node] = max(ended.get(node, entry.timestamp), entry.timestamp)
    return {node: round(end - started[node], 3) for node, end in ended.items()}


def all_step_seconds() -> dict[str, object]:
    """Step times of every run the instance at DAGSTER_HOME holds (a CLI run leaves them)."""
    instance = dg.DagsterInstance.get()
    steps: dict[str, float] = {}
    for run in instance.get_runs():
        for key, seconds in step_seconds(instance, run.run_id).items():
            steps[key] = round(steps.get(key, 0.0) + seconds, 3)
    return {"steps": steps}


def materialize_range(first: date, last: date, assets: str,
                      each_day: bool = False) -> dict[str, object]:
    """One single-run backfill of [first, last] (or one run per day, step times summed)."""
    if not each_day:
        return _materialize(first, last, assets)
    steps: dict[str, float] = {}
    runs = 0
    for ordinal in range(first.toordinal(), last.toordinal() + 1):
        day = date.fromordinal(ordinal)
        for key, seconds in _materialize(day, day, assets)["steps"].items():
            steps[key] = round(steps.get(key, 0.0) + seconds, 3)
        runs += 1
    return {"steps": steps, "runs": runs}


def _materialize(first: date, last: date, assets: str) -> dict[str, object]:
    settings = Settings.from_env()
    config = {"memory_limit": os.environ.get("BENCH_MEMORY_LIMIT", "1GB"), "threads": 2}
    instance = dg.DagsterInstance.get()
    result = dg.materialize(
        ASSETS[assets],
        instance=instance,
        resources={
            "duckdb": WarehouseResource(database=str(settings.warehouse),
                                        connection_config=config),
            "settings": CityUsageSettings(),
        },
        tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
    )
    if not result.success:
        raise RuntimeError(f"materialize {assets} {first}..{last} failed")
    return {"steps": step_seconds(instance, result.run_id), "run_id": result.run_id}
