"""Read one period of an export's source table (rows keyed by the source's column names)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from usage_model.hooks.protocol import Period
from usage_model.sql import load_sql


def read_source(conn: duckdb.DuckDBPyConnection, source: str, period: Period) -> pa.Table:
    if source in ("charges", "entitlement_status"):
        sql, params = load_sql(__file__, f"source_{source}"), {"start": period.start}
    elif source.startswith("usage_daily_by_"):
        sql = load_sql(__file__, "source_daily", idents={"table": source})
        params = {"start": period.start, "end": period.end}
    else:
        raise ValueError(f"unknown export source {source!r}")
    return conn.sql(sql, params=params).to_arrow_table()
