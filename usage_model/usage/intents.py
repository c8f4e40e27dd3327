"""Rebuilds a later run owes, kept in the warehouse (`usage_rebuild_intents`).

A scan that changes the manifest records, in the same transaction, the days whose curated
events must be rebuilt (target `usage_events`). Building a day deletes its `usage_events`
intent and, in the same transaction, records that the day's summaries are stale (one intent
per summary table; monthly tables are keyed by the month's first day). Building a summary
deletes its intents in the transaction that writes it. Every run first honours what is
pending, so a run that fails or is killed at any point leaves the work to the next run
instead of forgetting it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import duckdb

from usage_model.sql import run_sql

EVENTS = "usage_events"
DAILY_TABLES = (
    "usage_daily_by_model",
    "usage_daily_by_city",
    "usage_daily_by_user",
    "usage_daily_by_service",
)
MONTHLY_TABLES = ("usage_monthly_by_model", "usage_monthly_by_city", "usage_monthly_by_user")


def record(
    conn: duckdb.DuckDBPyConnection,
    targets: Iterable[str],
    days: Iterable[date],
    reason: str,
    source_path: str | None = None,
) -> None:
    """Add intents (call inside the transaction that makes the days stale)."""
    days = sorted(set(days))
    targets = sorted(set(targets))
    if not days or not targets:
        return
    run_sql(conn, __file__, "intents_record", targets=targets, days=days, reason=reason,
            path=source_path)


def record_events_rebuilt(conn: duckdb.DuckDBPyConnection, days: Iterable[date]) -> None:
    """Curated events of `days` changed: every summary of those days and months is stale."""
    days = set(days)
    record(conn, DAILY_TABLES, days, "events_rebuilt")
    record(conn, MONTHLY_TABLES, {d.replace(day=1) for d in days}, "events_rebuilt")


def pending(conn: duckdb.DuckDBPyConnection, targets: Iterable[str]) -> set[date]:
    """Days (or month starts) with an intent for any of `targets`."""
    rows = run_sql(conn, __file__, "intents_pending", targets=sorted(set(targets))).fetchall()
    return {r[0] for r in rows}


def last_recorded(conn: duckdb.DuckDBPyConnection) -> str:
    """When the newest pending intent was recorded ('' when none): tells pending sets apart."""
    row = run_sql(conn, __file__, "intents_last_recorded").fetchall()
    return row[0][0] or ""


def clear(
    conn: duckdb.DuckDBPyConnection, targets: Iterable[str], days: Iterable[date]
) -> None:
    """Delete the intents a rebuild satisfies (call inside the transaction that commits it)."""
    run_sql(conn, __file__, "intents_clear", targets=sorted(set(targets)),
            days=sorted(set(days)))
