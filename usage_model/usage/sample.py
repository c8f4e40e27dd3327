"""Sample landing data: realistic service calls, with the mess real landings have.

Per day: native Parquet parts under `dt=YYYY-MM-DD/`, a Downcity `service_usage_events` export
for some of the calls, a retry file with identical duplicates and a few conflicting copies, and
a few bad rows (missing city, unknown status, negative tokens, a non-ISO time). One day also
gets a file that is not Parquet at all. Generation is SQL over `range()`, so it is fast and the
same for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from usage_model import clock
from usage_model.sql import load_sql
from usage_model.storage import Location, location


@dataclass(frozen=True)
class SampleSummary:
    days: int
    files: int
    rows: int


def generate_day(conn: duckdb.DuckDBPyConnection, day: date, n: int, seed: int,
                 users: int = 300) -> pa.Table:
    return conn.sql(
        load_sql(__file__, "sample_events"),
        params={"n": n, "seed": seed, "day": day.isoformat(), "users": users},
    ).to_arrow_table()


# Downcity's time text: millisecond `Z` times (see sql/downcity_shape.sql).
DOWNCITY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%gZ"


def _downcity_shape(conn: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Table:
    """Downcity's export: text columns, `created_at` ISO text, latency and error in metadata."""
    conn.register("exported", table)
    sql = load_sql(__file__, "downcity_shape", idents={"exported": "exported"})
    shaped = conn.sql(sql, params={"ms": DOWNCITY_TIME_FORMAT}).to_arrow_table()
    conn.unregister("exported")
    return shaped


def _bad_rows(table: pa.Table, day: date) -> pa.Table:
    """Four rows that break a rule each (they must end in the quarantine, not vanish)."""
    bad = table.slice(0, 4).to_pylist()
    tag = day.strftime("%Y%m%d")
    bad[0].update(event_id=f"bad-{tag}-0", city_id=None)
    bad[1].update(event_id=f"bad-{tag}-1", status="ok")
    bad[2].update(event_id=f"bad-{tag}-2", input_tokens=-12)
    bad[3].update(event_id=None)
    return pa.Table.from_pylist(bad, schema=table.schema)


def _write_parquet(table: pa.Table, fs: pafs.FileSystem, path: str) -> None:
    pq.write_table(table, path, filesystem=fs)


def write_sample_landing(
    landing_usage: Path | Location,
    *,
    days: int = 14,
    events_per_day: int = 4000,
    seed: int = 7,
    end: date | None = None,
    progress: Callable[[int], None] | None = None,
) -> SampleSummary:
    """Write `days` days ending at `end` (default: yesterday) under `landing_usage` (a folder
    or an `s3://` prefix), each file atomically."""
    root = landing_usage if isinstance(landing_usage, Location) else location(landing_usage)
    end = end or (clock.today() - timedelta(days=1))
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    files = rows = 0
    for offset in range(days):
        day = end - timedelta(days=days - 1 - offset)
        table = generate_day(conn, day, events_per_day, seed)
        folder = f"dt={day.isoformat()}"
        cut = int(table.num_rows * 0.85)
        native, exported = table.slice(0, cut), table.slice(cut)
        half = native.num_rows // 2
        parts = {
            f"{folder}/part-000.parquet": native.slice(0, half),
            f"{folder}/part-001.parquet": pa.concat_tables([native.slice(half),
                                                           _bad_rows(native, day)]),
            f"downcity/service_usage_events-{day.isoformat()}.parquet":
                _downcity_shape(conn, exported),
        }
        # Retries: 1% identical copies, plus two copies whose tokens differ (conflicts).
        retry = native.slice(0, max(1, native.num_rows // 100))
        conflict = native.slice(retry.num_rows, 2).set_column(
            native.schema.get_field_index("input_tokens"), "input_tokens",
            pa.array([999_999, 999_998][: min(2, native.num_rows)], pa.int64()),
        )
        parts[f"{folder}/retry-000.parquet"] = pa.concat_tables([retry, conflict])
        for path, part in parts.items():
            root.write_atomic(root.path(path), partial(_write_parquet, part))
            files += 1
            rows += part.num_rows
        if offset == days // 2:
            root.write_bytes(root.path(folder, "broken.parquet"), b"PAR1 this upload was cut short")
            files += 1
        if progress:
            progress(1)
    conn.close()
    return SampleSummary(days=days, files=files, rows=rows)
