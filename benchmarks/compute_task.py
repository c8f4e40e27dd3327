"""The pipeline's summary compute alone, without Dagster: `usage_model.usage.summaries
.build_daily` on the warehouse the pipeline built (same connection settings as the resource)."""

from __future__ import annotations

import os
import time
from datetime import date

import duckdb

from usage_model.config import Settings
from usage_model.usage import summaries


def build_daily(first: date, last: date) -> dict[str, object]:
    settings = Settings.from_env()
    days = [date.fromordinal(o) for o in range(first.toordinal(), last.toordinal() + 1)]
    config = {"memory_limit": os.environ.get("BENCH_MEMORY_LIMIT", "1GB"), "threads": 2}
    conn = duckdb.connect(str(settings.warehouse), config=config)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        began = time.perf_counter()
        written = summaries.build_daily(conn, settings, days)
        return {"compute_s": round(time.perf_counter() - began, 3), "rows": written}
    finally:
        conn.close()
