"""An independent reference implementation of the usage rules, in polars.

It shares no code with the pipeline (which is DuckDB SQL): it reads the landing files with
polars, applies docs/event-model.md's rules in its own way and computes the summaries, so a test can
compare the warehouse with it on data neither was tuned to.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

NATIVE = ["event_id", "occurred_at", "city_id", "user_id", "model_id", "status",
          "input_tokens", "output_tokens", "latency_ms"]


def _read(path: Path, root: Path) -> pl.DataFrame | None:
    try:
        frame = pl.read_parquet(path)
    except Exception:
        return None
    if "created_at" in frame.columns and "occurred_at" not in frame.columns:
        frame = frame.rename({"created_at": "occurred_at"})
        # Downcity writes snake_case keys today; older exports used camelCase.
        meta = frame["metadata_json"].str.json_decode(pl.Struct({
            "started_at": pl.String, "ended_at": pl.String,
            "startedAt": pl.String, "endedAt": pl.String,
        }))

        def instant(snake: str, camel: str) -> pl.Series:
            text = meta.struct.field(snake).fill_null(meta.struct.field(camel))
            return text.str.to_datetime(time_zone="UTC")

        started, ended = instant("started_at", "startedAt"), instant("ended_at", "endedAt")
        frame = frame.with_columns(
            latency_ms=(ended - started).dt.total_milliseconds().cast(pl.Float64),
            occurred_at=pl.col("occurred_at").str.to_datetime(time_zone="UTC"),
        )
    if "town_id" in frame.columns and "city_id" not in frame.columns:
        frame = frame.rename({"town_id": "city_id"})
    for column in NATIVE:
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None).alias(column))
    return frame.select(
        pl.col("event_id").cast(pl.String),
        pl.col("occurred_at").cast(pl.Datetime("us", "UTC")),
        pl.col("city_id").cast(pl.String),
        pl.col("user_id").cast(pl.String),
        pl.col("model_id").cast(pl.String),
        pl.col("status").cast(pl.String),
        pl.col("input_tokens").cast(pl.Int64).fill_null(0),
        pl.col("output_tokens").cast(pl.Int64).fill_null(0),
        pl.col("latency_ms").cast(pl.Float64),
    ).with_row_index("row").with_columns(
        path=pl.lit(path.relative_to(root).as_posix())
    )


def accepted_events(landing_usage: Path, timezone: str = "UTC") -> pl.DataFrame:
    frames = [
        f for f in (_read(p, landing_usage) for p in sorted(landing_usage.rglob("*.parquet")))
        if f is not None
    ]
    events = pl.concat(frames)
    valid = events.filter(
        pl.col("event_id").is_not_null() & (pl.col("event_id") != "")
        & pl.col("occurred_at").is_not_null()
        & pl.col("city_id").is_not_null() & (pl.col("city_id") != "")
        & pl.col("status").is_in(["success", "error"])
        & (pl.col("input_tokens") >= 0) & (pl.col("output_tokens") >= 0)
        & ~(pl.col("latency_ms") < 0).fill_null(False)
    )
    first = valid.sort(["path", "row"]).unique(subset="event_id", keep="first",
                                               maintain_order=True)
    return first.with_columns(
        day=pl.col("occurred_at").dt.convert_time_zone(timezone).dt.date()
    )


def daily_by_model(events: pl.DataFrame) -> pl.DataFrame:
    return events.group_by(["day", "model_id"]).agg(
        calls=pl.len(),
        success_calls=(pl.col("status") == "success").sum(),
        error_calls=(pl.col("status") == "error").sum(),
        input_tokens=pl.col("input_tokens").sum(),
        output_tokens=pl.col("output_tokens").sum(),
        distinct_users=pl.col("user_id").drop_nulls().n_unique(),
        distinct_cities=pl.col("city_id").n_unique(),
        p50_latency_ms=pl.col("latency_ms").quantile(0.5, interpolation="linear"),
        p95_latency_ms=pl.col("latency_ms").quantile(0.95, interpolation="linear"),
    )


def daily_by_city(events: pl.DataFrame) -> pl.DataFrame:
    return events.group_by(["day", "city_id"]).agg(
        calls=pl.len(),
        error_calls=(pl.col("status") == "error").sum(),
        input_tokens=pl.col("input_tokens").sum(),
        output_tokens=pl.col("output_tokens").sum(),
        distinct_users=pl.col("user_id").drop_nulls().n_unique(),
    )


def daily_by_user(events: pl.DataFrame) -> pl.DataFrame:
    return events.group_by(["day", "city_id", "user_id"]).agg(
        calls=pl.len(),
        input_tokens=pl.col("input_tokens").sum(),
        output_tokens=pl.col("output_tokens").sum(),
    )
