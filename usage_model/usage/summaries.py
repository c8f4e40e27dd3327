"""Daily summaries and monthly rollups, computed by DuckDB SQL over curated events.

Each build replaces its window (delete the days, insert) in one transaction, so a rebuild is
idempotent; the same transaction deletes the window's pending intents (see intents.py).
With `record_errors = false`, error calls are left out of every summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from usage_model.config import Settings
from usage_model.faults import fault_point
from usage_model.usage import intents
from usage_model.usage.event_model import CURATED_SCHEMA
from usage_model.usage.ingest import day_path
from usage_model.usage.intents import DAILY_TABLES, MONTHLY_TABLES
from usage_model.warehouse import fetch_one, transaction

SQL_DIR = Path(__file__).parent / "sql"
SUMMARY_SQL = {
    name: (SQL_DIR / f"{name}.sql").read_text() for name in DAILY_TABLES + MONTHLY_TABLES
}
SUMMARY_ROLLUP_SQL = (SQL_DIR / "summary_rollup.sql").read_text()
# Daily tables computed from `summary_rollup` (one grouped pass over the events) rather than
# from the events themselves.
FROM_ROLLUP = ("usage_daily_by_model", "usage_daily_by_city", "usage_daily_by_user")


@dataclass(frozen=True)
class SummaryTotals:
    rows: int
    calls: int
    error_calls: int
    input_tokens: int
    output_tokens: int


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + p.as_posix().replace("'", "''") + "'" for p in paths) + "]"


def create_events_view(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    days: Iterable[date],
    name: str = "summary_events",
    *,
    apply_record_errors: bool = True,
) -> int:
    """A temp view over the curated files of `days`; returns how many files it reads."""
    files = [p for p in (day_path(settings, d) for d in sorted(set(days))) if p.exists()]
    where = "" if settings.record_errors or not apply_record_errors else "WHERE status <> 'error'"
    if files:
        source = f"read_parquet({_sql_list(files)}, hive_partitioning = false)"
    else:  # an empty window: the same columns, no rows
        conn.register("usage_empty_events", CURATED_SCHEMA.empty_table())
        source = "usage_empty_events"
    conn.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {source} {where}")
    return len(files)


def build_daily(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    days: Iterable[date],
    tables: Iterable[str] = DAILY_TABLES,
) -> dict[str, int]:
    """Replace the window's rows in each daily summary table; returns rows written per table.

    Days are computed one at a time (one curated file each), so memory follows the size of a
    day, not of the window: exact quantiles keep every latency of a group until the end.
    """
    days = sorted(set(days))
    tables = list(tables)
    with transaction(conn):
        for table in tables:
            conn.execute(
                f"DELETE FROM {table} WHERE day IN (SELECT unnest($days::DATE[]))", {"days": days}
            )
        for day in days:
            if not create_events_view(conn, settings, [day]):
                continue  # no events that day: no rows
            if any(table in FROM_ROLLUP for table in tables):
                conn.execute(SUMMARY_ROLLUP_SQL)
            for table in tables:
                conn.execute(SUMMARY_SQL[table])
        intents.clear(conn, tables, days)
        written = {
            table: fetch_one(
                conn,
                f"SELECT count(*) FROM {table} WHERE day IN (SELECT unnest($days::DATE[]))",
                {"days": days},
            )[0]
            for table in tables
        }
        fault_point("before_daily_commit")
    conn.execute("DROP TABLE IF EXISTS summary_rollup")
    return written


def month_days(period: date) -> list[date]:
    start = period.replace(day=1)
    nxt = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return [date.fromordinal(o) for o in range(start.toordinal(), nxt.toordinal())]


def build_monthly(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    periods: Iterable[date],
    tables: Iterable[str] = MONTHLY_TABLES,
) -> dict[str, int]:
    """Replace each month's rows; distinct counts come from the month's events (exact)."""
    written = dict.fromkeys(tables, 0)
    for period in sorted(set(periods)):
        period = period.replace(day=1)
        create_events_view(conn, settings, month_days(period))
        with transaction(conn):
            for table in tables:
                conn.execute(f"DELETE FROM {table} WHERE period = $p", {"p": period})
                conn.execute(SUMMARY_SQL[table], {"period": period})
                written[table] += fetch_one(
                    conn, f"SELECT count(*) FROM {table} WHERE period = $p", {"p": period}
                )[0]
            fault_point("before_monthly_commit")
            intents.clear(conn, tables, [period])
    return written


def event_totals(
    conn: duckdb.DuckDBPyConnection, settings: Settings, days: list[date]
) -> SummaryTotals:
    """Totals straight from curated events (the reference the summary checks compare with)."""
    create_events_view(conn, settings, days, "check_events")
    row = fetch_one(
        conn,
        "SELECT count(*), count(*), count(*) FILTER (WHERE status = 'error'), "
        "coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0) FROM check_events",
    )
    return SummaryTotals(*row)


def table_totals(conn: duckdb.DuckDBPyConnection, table: str, days: list[date]) -> SummaryTotals:
    # The overview table keeps status as a key instead of success/error columns.
    errors = (
        "calls) FILTER (WHERE status = 'error')"
        if table == "usage_daily_by_service"
        else ("error_calls)")
    )
    row = fetch_one(
        conn,
        f"SELECT count(*), coalesce(sum(calls), 0), coalesce(sum({errors}, 0), "
        f"coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0) FROM {table} "
        "WHERE day IN (SELECT unnest($days::DATE[]))",
        {"days": days},
    )
    return SummaryTotals(*row)


def monthly_vs_daily_calls(
    conn: duckdb.DuckDBPyConnection, monthly_table: str, periods: list[date]
) -> tuple[int, int]:
    """Calls in the monthly rollup against the sum of its daily table over the same months."""
    daily_table = monthly_table.replace("monthly", "daily")
    monthly = fetch_one(
        conn,
        f"SELECT coalesce(sum(calls), 0) FROM {monthly_table} "
        "WHERE period IN (SELECT unnest($p::DATE[]))",
        {"p": periods},
    )[0]
    daily = fetch_one(
        conn,
        f"SELECT coalesce(sum(calls), 0) FROM {daily_table} "
        "WHERE date_trunc('month', day) IN (SELECT unnest($p::DATE[]))",
        {"p": periods},
    )[0]
    return monthly, daily
