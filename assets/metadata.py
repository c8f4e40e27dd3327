"""Materialization metadata every asset reports the same way: row count, column schema, a
markdown preview, and numeric values the UI plots over time."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import duckdb

from usage_model.reporting import query_markdown
from usage_model.warehouse import fetch_one

OWNERS = ["team:city-usage"]


def column_schema(conn: duckdb.DuckDBPyConnection, table: str) -> dg.TableSchema:
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = $t ORDER BY ordinal_position",
        {"t": table},
    ).fetchall()
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, dtype, constraints=dg.TableColumnConstraints(nullable=n == "YES"))
            for name, dtype, n in rows
        ]
    )


def table_metadata(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    where: str = "true",
    params: Mapping[str, object] | None = None,
    order_by: str = "1",
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Row count of the written window, schema, a 10-row preview, plus `extra` values."""
    params = dict(params or {})
    count = fetch_one(conn, f"SELECT count(*) FROM {table} WHERE {where}", params)[0]
    preview = query_markdown(
        conn, f"SELECT * FROM {table} WHERE {where} ORDER BY {order_by} LIMIT 10", params
    )
    total = fetch_one(conn, f"SELECT count(*) FROM {table}")[0]
    return {
        "dagster/row_count": dg.MetadataValue.int(count),
        "dagster/table_name": table,
        "dagster/column_schema": column_schema(conn, table),
        "rows_in_table": dg.MetadataValue.int(total),
        "preview": dg.MetadataValue.md(preview),
        **dict(extra or {}),
    }
