"""Read one period of an export's source table (rows keyed by the source's column names)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from usage_model.hooks.protocol import Period

DAILY_SOURCE_SQL = "SELECT * FROM {table} WHERE day >= $start AND day < $end ORDER BY ALL"
CHARGES_SQL = """
SELECT period, user_id, city_id, amount_credits, description, ref, reason
FROM charges WHERE period = $start ORDER BY ref
"""
ENTITLEMENT_SQL = """
SELECT period, scope, subject_id, user_id, city_id, unit, included, limit_value, used,
       remaining, overage, over_limit
FROM entitlement_status WHERE period = $start ORDER BY scope, subject_id
"""


def read_source(conn: duckdb.DuckDBPyConnection, source: str, period: Period) -> pa.Table:
    if source == "charges":
        sql = CHARGES_SQL
    elif source == "entitlement_status":
        sql = ENTITLEMENT_SQL
    elif source.startswith("usage_daily_by_"):
        sql = DAILY_SOURCE_SQL.format(table=source)
    else:
        raise ValueError(f"unknown export source {source!r}")
    params = {"start": period.start, "end": period.end}
    if "$end" not in sql:
        params.pop("end")
    return conn.sql(sql, params=params).to_arrow_table()
