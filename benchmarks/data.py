"""Seeded benchmark data: landing Parquet files written by DuckDB straight from
`usage_model/usage/sql/sample_events.sql` (the same generator as `city-usage sample-data`).

A benchmark root holds its own layout (`data/landing/usage/dt=YYYY-MM-DD/part-NNN.parquet`,
`data/curated`, `data/warehouse.duckdb`) and its own `DAGSTER_HOME`, so runs never touch the
project's data.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb

from usage_model.config import Environment, Settings
from usage_model.sql import load_sql
from usage_model.usage import layout, sample

FIRST_DAY = date(2026, 1, 1)
SEED = 11
USERS = 5000
ROWS_PER_FILE = 1_000_000  # landing files of at most 1M rows, as exporters write them

SAMPLE_SQL = load_sql(sample.__file__, "sample_events")  # the sample generator's rows


def bench_settings(root: Path) -> Settings:
    data = root / "data"
    base = Settings(data_dir=data, landing=data / "landing", warehouse=data / "warehouse.duckdb",
                    curated=data / "curated", exports=data / "exports")
    # The scan's pool size is the one knob taken from the environment (CITY_USAGE_SCAN_WORKERS):
    # the profile compares one process with a pool.
    return replace(base, timezone="UTC", scan_workers=Environment.load().scan_workers)


def bench_env(root: Path, memory_limit: str) -> dict[str, str]:
    """Environment of a measurement subprocess: the root's layout, its own Dagster home."""
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {
        **os.environ,
        "CITY_USAGE_DATA_DIR": str(root / "data"),
        "CITY_USAGE_TIMEZONE": "UTC",
        "CITY_USAGE_PARTITION_START": "2025-01-01",
        "DAGSTER_HOME": str(home),
        "BENCH_MEMORY_LIMIT": memory_limit,
        # The real CLI process (end to end) caps its warehouse connections the same way.
        "CITY_USAGE_DUCKDB_MEMORY_LIMIT": memory_limit,
    }


def day_of(index: int) -> date:
    return FIRST_DAY + timedelta(days=index)


def fresh_root(root: Path, days: int) -> tuple[Settings, list[date]]:
    """An emptied benchmark folder's layout and the `days` days its landing will cover."""
    shutil.rmtree(root, ignore_errors=True)
    return bench_settings(root), [day_of(k) for k in range(days)]


def write_landing_day(settings: Settings, day: date, events: int, seed: int = SEED) -> int:
    """One day of landed events in parts of at most ROWS_PER_FILE rows; returns files written."""
    folder = settings.usage_landing / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect()
    try:
        conn.execute("SET TimeZone = 'UTC'")
        parts = max(1, -(-events // ROWS_PER_FILE))
        for k in range(parts):
            n = events // parts + (1 if k < events % parts else 0)
            target = folder / f"part-{k:03d}.parquet"
            # Distinct seeds per part keep event_ids unique across parts of the same day.
            conn.execute(
                f"COPY ({SAMPLE_SQL}) TO '{target.as_posix()}' "
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)",
                {"n": n, "seed": seed * 1000 + k, "day": day.isoformat(), "users": USERS},
            )
        return parts
    finally:
        conn.close()


def landing_files(settings: Settings, days: list[date]) -> list[Path]:
    return sorted(
        p for d in days for p in (settings.usage_landing / f"dt={d.isoformat()}").glob("*.parquet")
    )


def curated_files(settings: Settings, days: list[date]) -> list[Path]:
    return [Path(p) for p in layout.existing_day_files(settings.events_location(), days)]


# Random-looking ids (a UUID laid out from an MD5 of the generator's id): nothing in the id
# says its day, as with UUIDv4 or Downcity's `usage_…` ids.
_RANDOM_ID = (
    "SELECT * REPLACE (regexp_replace(md5(event_id), "
    "'^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\\1-\\2-\\3-\\4-\\5') AS event_id) FROM ({sql})"
)
# Share of a day's rows landed again, unchanged, with the next day's files (a re-delivery).
DUPLICATE_PERCENT = 1


def write_random_id_days(settings: Settings, days: list[date], events: int,
                         seed: int = SEED) -> int:
    """`events` rows a day with random ids; each day after the first also lands, in its own
    folder, an identical copy of ~DUPLICATE_PERCENT% of the previous day's rows. Returns the
    number of landed rows (copies included)."""
    conn = duckdb.connect()
    landed = 0
    try:
        conn.execute("SET TimeZone = 'UTC'")
        previous: Path | None = None
        for day in days:
            folder = settings.usage_landing / f"dt={day.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / "part-000.parquet"
            sql = _RANDOM_ID.replace("{sql}", SAMPLE_SQL)
            if previous is not None:
                sql = (f"{sql} UNION ALL SELECT * FROM read_parquet('{previous.as_posix()}', "
                       "hive_partitioning = false) "
                       f"WHERE hash(event_id) % 100 < {DUPLICATE_PERCENT}")
            conn.execute(
                f"COPY ({sql}) TO '{target.as_posix()}' "
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)",
                {"n": events, "seed": seed, "day": day.isoformat(), "users": USERS},
            )
            landed += conn.execute(
                f"SELECT count(*) FROM read_parquet('{target.as_posix()}')").fetchall()[0][0]
            previous = target
        return landed
    finally:
        conn.close()
