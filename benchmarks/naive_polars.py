"""The script a user would write instead of the pipeline: read every landed file, keep the
first copy of each event_id (files in path order, then row order), build the three daily
summaries with the contract's measures and write them to a DuckDB file. No validation, no
quarantine, no conflict detection, no index: the speed a plain dataframe job reaches."""

from __future__ import annotations

import duckdb
import polars as pl

SUMS = ["input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
        "cost_credits"]


def naive_materialize(files: list[str], warehouse: str) -> dict:
    events = (pl.scan_parquet(sorted(files), hive_partitioning=False)
              .unique(subset="event_id", keep="first", maintain_order=True)
              .with_columns(day=pl.col("occurred_at").dt.convert_time_zone("UTC").dt.date()))
    calls = [pl.len().alias("calls"),
             (pl.col("status") == "success").sum().alias("success_calls"),
             (pl.col("status") == "error").sum().alias("error_calls"),
             *[pl.col(c).fill_null(0).sum() for c in SUMS]]
    latency = [pl.col("latency_ms").quantile(0.5, "linear").alias("p50_latency_ms"),
               pl.col("latency_ms").quantile(0.95, "linear").alias("p95_latency_ms")]
    users = pl.col("user_id").drop_nulls().n_unique().alias("distinct_users")
    cities = pl.col("city_id").drop_nulls().n_unique().alias("distinct_cities")
    plans = {
        "usage_daily_by_model": events.group_by("day", "model_id").agg(
            *calls, users, cities, *latency),
        "usage_daily_by_city": events.group_by("day", "city_id").agg(*calls, users, *latency),
        "usage_daily_by_user": events.group_by("day", "city_id", "user_id").agg(*calls),
    }
    frames = dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))
    conn = duckdb.connect(warehouse)
    for name, frame in frames.items():
        conn.register("frame", frame.to_arrow())
        conn.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM frame")
        conn.unregister("frame")
    conn.close()
    return {"rows": {name: frame.height for name, frame in frames.items()}}
