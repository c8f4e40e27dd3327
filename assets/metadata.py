"""Materialization metadata every asset reports the same way: row count, column schema, a
markdown preview, and numeric values the UI plots over time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import dagster as dg
import duckdb

from usage_model.reporting import query_markdown
from usage_model.storage import Location
from usage_model.usage import layout
from usage_model.warehouse import POOL, WRITER_OP_TAGS, fetch_one

OWNERS = ["team:city-usage"]


# Every step that opens the warehouse: the one-writer pool and, in distributed mode, the queue
# served by the one worker that owns the DuckDB file (docs/scale.md).
WAREHOUSE_STEP: dict[str, object] = {"pool": POOL, "op_tags": WRITER_OP_TAGS}


def warehouse_writer(group: str, *kinds: str) -> dict[str, object]:
    """Decorator arguments every step that writes the DuckDB warehouse shares: its group, its
    kinds, the owners, the one-writer pool and, in distributed mode, the warehouse queue."""
    return {"group_name": group, "kinds": {"duckdb", *kinds}, "owners": OWNERS, **WAREHOUSE_STEP}


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
    preview_where: str | None = None,
) -> dict[str, object]:
    """Row count of the written window (`where`), schema, a 10-row preview (of the rows
    `preview_where` picks, default the window), plus `extra` values."""
    params = dict(params or {})
    count = fetch_one(conn, f"SELECT count(*) FROM {table} WHERE {where}", params)[0]
    shown = f"({where}) AND ({preview_where})" if preview_where else where
    preview = query_markdown(
        conn, f"SELECT * FROM {table} WHERE {shown} ORDER BY {order_by} LIMIT 10", params
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


# Per-partition metadata. A single-run backfill over many days reports one MaterializeResult
# per asset, which Dagster would stamp on every day; each day's own figures are added per
# partition (context.add_asset_metadata with partition_key), overriding those keys, so the
# UI's per-day values and plots show the day itself.
_DAY_FIGURES = """
    SELECT strftime(day, '%Y-%m-%d') AS day, count(*) AS rows, {calls} AS calls,
           {errors} AS error_calls, coalesce(sum(input_tokens), 0) AS input_tokens,
           coalesce(sum(output_tokens), 0) AS output_tokens
    FROM {relation} WHERE day IN (SELECT unnest($days::DATE[])) GROUP BY ALL"""


def day_figures(
    conn: duckdb.DuckDBPyConnection,
    relation: str,
    days: Sequence[date],
    calls: str = "sum(calls)",
    errors: str = "sum(error_calls)",
) -> dict[str, dict[str, object]]:
    """Row count, calls, error calls and rate, tokens of each day in `relation` (a table or
    a view), keyed by partition key; a day without rows gets zeros."""
    sql = _DAY_FIGURES.format(calls=calls, errors=errors, relation=relation)
    rows = conn.execute(sql, {"days": list(days)}).fetchall()
    return _by_partition(days, {row[0]: row[1:] for row in rows})


def _by_partition(days: Sequence[date], found: Mapping[str, tuple]) -> dict[str, dict]:
    figures = {}
    for day in days:
        rows, n_calls, n_errors, tokens_in, tokens_out = found.get(day.isoformat(), (0,) * 5)
        figures[day.isoformat()] = {
            "dagster/row_count": dg.MetadataValue.int(int(rows)),
            "calls": dg.MetadataValue.int(int(n_calls or 0)),
            "error_calls": dg.MetadataValue.int(int(n_errors or 0)),
            "error_rate": dg.MetadataValue.float(n_errors / n_calls if n_calls else 0.0),
            "input_tokens": dg.MetadataValue.int(int(tokens_in or 0)),
            "output_tokens": dg.MetadataValue.int(int(tokens_out or 0)),
        }
    return figures


def curated_day_figures(events: Location, days: Sequence[date]) -> dict[str, dict[str, object]]:
    """day_figures of the curated events (one row per accepted call), read from their files."""
    parts = [path for _, path in layout.day_files(events, min(days), max(days))] if days else []
    if not parts:
        return _by_partition(days, {})
    with duckdb.connect() as conn:
        layout.register_events(conn, events, parts, "curated_days")
        return day_figures(conn, "curated_days", days, calls="count(*)",
                           errors="count(*) FILTER (WHERE status = 'error')")


def add_partition_metadata(
    context: dg.AssetExecutionContext,
    asset_key: dg.AssetKey | str,
    figures: Mapping[str, Mapping[str, object]],
) -> None:
    """Attach each partition's own figures to its materialization event.

    Only the run's own partitions have an event: pending days a run builds besides them
    (durable rebuild intents) are reported in the run's totals, not as partitions."""
    targeted = set(context.partition_keys)
    for partition_key, metadata in figures.items():
        if partition_key not in targeted:
            continue
        context.add_asset_metadata(dict(metadata), asset_key=asset_key,
                                   partition_key=partition_key)
