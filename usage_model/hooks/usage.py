"""A period's usage at the grain a hook asks for, aggregated from curated events by DuckDB.

The by-user summary has no model, so hooks read the curated day files
(`events/day=YYYY-MM-DD/part-0.parquet`, local or on S3) of the period. With `record_errors`
false, error calls are left out, as in the summaries.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from usage_model.hooks.protocol import GRAIN_COLUMNS, MEASURES, Period
from usage_model.sql import load_sql
from usage_model.storage import Location
from usage_model.usage import layout

_GRAIN_TYPES = {
    "user_id": pa.string(), "city_id": pa.string(), "model_id": pa.string(),
    "service": pa.string(), "day": pa.date32(),
}

# The session view of the period's curated events the statement reads (`{{events}}`).
PERIOD_EVENTS = {"events": "period_events"}


def usage_schema(grain: Sequence[str]) -> pa.Schema:
    return pa.schema([(c, _GRAIN_TYPES[c]) for c in grain] + [(m, pa.int64()) for m in MEASURES])


def usage_at_grain(
    events: Location, period: Period, grain: Sequence[str], *, record_errors: bool = True
) -> pa.Table:
    """One row per grain group with calls and token sums over `period` (exact integers)."""
    unknown = [c for c in grain if c not in GRAIN_COLUMNS]
    if unknown:
        raise ValueError(f"unknown grain column(s): {', '.join(unknown)}")
    schema = usage_schema(grain)
    files = layout.existing_day_files(events, period.days())
    if not files:
        return schema.empty_table()
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        layout.register_events(conn, events, files, PERIOD_EVENTS["events"])
        table = conn.sql(load_sql(__file__, "usage_at_grain", PERIOD_EVENTS), params={
            "grain": list(grain), "start": period.start, "end": period.end,
            "record_errors": record_errors,
        }).to_arrow_table()
    # the grain in the order asked for, groups sorted by it (nulls last, as ORDER BY does)
    table = table.select(schema.names).sort_by([(c, "ascending") for c in grain])
    return table.cast(schema)
