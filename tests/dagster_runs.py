"""Helpers for tests that run the real Dagster graph against a temporary layout."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb
import polars as pl

from assets.resources import CityUsageSettings, WarehouseResource
from assets.usage import definitions as usage_defs
from usage_model.config import Settings

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
DAILY_TABLES = ("usage_daily_by_model", "usage_daily_by_city", "usage_daily_by_user")


def resources(settings: Settings) -> dict[str, object]:
    return {
        "duckdb": WarehouseResource(database=str(settings.warehouse)),
        "settings": CityUsageSettings(),
    }


def materialize_days(
    settings: Settings, instance: dg.DagsterInstance, start: date, end: date
) -> dg.ExecuteInProcessResult:
    """usage_events and the daily summaries for [start, end], as one single-run backfill."""
    tags = {RANGE_START: start.isoformat(), RANGE_END: end.isoformat()}
    return dg.materialize(
        [usage_defs.usage_events, usage_defs.daily_summaries],
        instance=instance,
        resources=resources(settings),
        tags=tags,
    )


def table(settings: Settings, name: str) -> pl.DataFrame:
    """A whole table, sorted on every column, so two builds compare row for row."""
    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        frame = pl.from_arrow(conn.sql(f"SELECT * FROM {name}").to_arrow_table())
    return frame.sort(frame.columns, nulls_last=True)
