"""Daily summaries and monthly rollups, computed by DuckDB SQL over curated events.

Each build replaces its window (delete the days, insert) in one transaction, so a rebuild is
idempotent; the same transaction deletes the window's pending intents (see intents.py).
A daily build may take days computed elsewhere (summary_exchange.py: compute steps on other
workers, with the same SQL through `summarize_day`) and computes the rest itself.
With `record_errors = false`, error calls are left out of every summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow as pa

from usage_model.config import Settings
from usage_model.faults import fault_point
from usage_model.sql import run_sql
from usage_model.usage import intents, layout
from usage_model.usage.intents import DAILY_TABLES, MONTHLY_TABLES
from usage_model.warehouse import transaction

# The temp view of the window's events and the temp tables grouped from it, named to the
# statements in sql/ (`{{events}}`, `{{rollup}}`, `{{keyed}}`). Daily tables in FROM_ROLLUP
# are read from the keyed measures (summary_keyed.sql, grouped from the rollup: one grouped
# pass over the events) rather than from the events themselves.
EVENTS, ROLLUP, KEYED = "summary_events", "summary_rollup", "summary_keyed"
SUMMARY_INPUTS = {"events": EVENTS, "rollup": ROLLUP, "keyed": KEYED}
FROM_ROLLUP = ("usage_daily_by_model", "usage_daily_by_city", "usage_daily_by_user")
# The session view of a day's stored rows while they are inserted (summary_insert_stored.sql).
STORED_ROWS = "summary_stored_rows"


@dataclass(frozen=True)
class SummaryTotals:
    rows: int
    calls: int
    error_calls: int
    input_tokens: int
    output_tokens: int


def create_events_view(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    days: Iterable[date],
    name: str = EVENTS,
    *,
    apply_record_errors: bool = True,
) -> int:
    """A temp view `name` over the curated files of `days` (local or on S3, see layout.py);
    returns how many files it reads. An empty window: the same columns, no rows."""
    events_at = settings.events_location()
    files = layout.existing_day_files(events_at, days)
    events = layout.events_relation(conn, events_at, files)
    if files and not settings.record_errors and apply_record_errors:
        events = events.filter("status <> 'error'")
    conn.register(name, events)
    return len(files)


def summarize_day(
    conn: duckdb.DuckDBPyConnection, settings: Settings, day: date, tables: Iterable[str]
) -> bool:
    """Insert `day`'s rows of each daily table in `tables` into `conn`'s tables of those
    names (the warehouse's, or a compute step's own in-memory copies); False when the day has
    no curated file (no rows). The one place the daily summary SQL runs."""
    tables = list(tables)
    if not create_events_view(conn, settings, [day], EVENTS):
        return False
    if any(table in FROM_ROLLUP for table in tables):
        run_sql(conn, __file__, "summary_rollup", idents=SUMMARY_INPUTS)
        run_sql(conn, __file__, "summary_keyed", idents=SUMMARY_INPUTS)
    for table in tables:
        run_sql(conn, __file__, table, idents=SUMMARY_INPUTS)
    return True


# A day's rows as a compute step stored them, per table (see summary_exchange.py); None when
# there is no usable stored result for the day as the warehouse now has it.
StoredDay = Callable[[duckdb.DuckDBPyConnection, date], Mapping[str, pa.Table] | None]


def build_daily(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    days: Iterable[date],
    tables: Iterable[str] = DAILY_TABLES,
    stored: StoredDay | None = None,
) -> dict[str, int]:
    """Replace the window's rows in each daily summary table; returns rows written per table.

    A day whose rows a compute step stored (`stored`, checked against the day's curated file
    as it is now) is inserted from them; every other day is computed here. Days are computed
    one at a time (one curated file each), so memory follows the size of a day, not of the
    window: exact quantiles keep every latency of a group until the end.
    """
    days = sorted(set(days))
    tables = list(tables)
    with transaction(conn):
        for table in tables:
            run_sql(conn, __file__, "summary_delete_days", idents={"table": table}, days=days)
        for day in days:
            rows = stored(conn, day) if stored is not None else None
            if rows is None:
                summarize_day(conn, settings, day, tables)
                continue
            for table in tables:
                conn.register(STORED_ROWS, rows[table])
                run_sql(conn, __file__, "summary_insert_stored",
                        idents={"table": table, "rows": STORED_ROWS})
                conn.unregister(STORED_ROWS)
        intents.clear(conn, tables, days)
        written = {
            table: run_sql(conn, __file__, "summary_count_days", idents={"table": table},
                           days=days).fetchall()[0][0]
            for table in tables
        }
        fault_point("before_daily_commit")
    for temp in (ROLLUP, KEYED):
        run_sql(conn, __file__, "drop_table", idents={"table": temp})
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
        create_events_view(conn, settings, month_days(period), EVENTS)
        with transaction(conn):
            for table in tables:
                one = {"table": table}
                run_sql(conn, __file__, "summary_delete_period", idents=one, period=period)
                run_sql(conn, __file__, table, idents=SUMMARY_INPUTS, period=period)
                written[table] += run_sql(conn, __file__, "summary_count_period", idents=one,
                                          period=period).fetchall()[0][0]
            fault_point("before_monthly_commit")
            intents.clear(conn, tables, [period])
    return written


def event_totals(
    conn: duckdb.DuckDBPyConnection, settings: Settings, days: list[date]
) -> SummaryTotals:
    """Totals straight from curated events (the reference the summary checks compare with)."""
    create_events_view(conn, settings, days, "check_events")
    row = run_sql(conn, __file__, "event_totals", idents={"events": "check_events"}).fetchall()
    return SummaryTotals(*row[0])


def table_totals(conn: duckdb.DuckDBPyConnection, table: str, days: list[date]) -> SummaryTotals:
    # The overview table keeps status as a key instead of success/error columns.
    name = "overview_totals" if table == "usage_daily_by_service" else "summary_totals"
    row = run_sql(conn, __file__, name, idents={"table": table}, days=days).fetchall()
    return SummaryTotals(*row[0])


def monthly_vs_daily_calls(
    conn: duckdb.DuckDBPyConnection, monthly_table: str, periods: list[date]
) -> tuple[int, int]:
    """Calls in the monthly rollup against the sum of its daily table over the same months."""
    daily_table = monthly_table.replace("monthly", "daily")
    monthly = run_sql(conn, __file__, "monthly_calls", idents={"table": monthly_table},
                      periods=periods).fetchall()[0][0]
    daily = run_sql(conn, __file__, "daily_calls_in_months", idents={"table": daily_table},
                    periods=periods).fetchall()[0][0]
    return monthly, daily
