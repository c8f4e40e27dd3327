"""What the usage and funding report shows, read from the warehouse (no Dagster, no charts).

Usage figures cover the days `first..last` (both included) in the warehouse's time zone and
come from the daily summaries, except latency percentiles, which are exact over the range and
so are computed from the curated events. Funding figures are the current state (balances,
topups by reconciliation verdict, open exceptions): money has no day range of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from usage_model.config import Settings
from usage_model.sql import load_sql, run_sql
from usage_model.storage import Location
from usage_model.usage import layout

TOP_N = 10
DEFAULT_DAYS = 30
TOP_WALLETS = 20
ANONYMOUS = "(anonymous)"
UNKNOWN_MODEL = "(no model)"

Rows = list[dict[str, Any]]

# Each section of the report: its statement in sql/<section>.sql, and the table it reads (a
# table not built yet reads as an empty section).
SECTIONS: dict[str, str] = {
    "daily_by_model": "usage_daily_by_model",
    "daily_errors": "usage_daily_by_model",
    "top_cities": "usage_daily_by_city",
    "top_users": "usage_daily_by_user",
    "quarantine_by_reason": "usage_quarantine",
    "charges_by_city": "charges",
    "balances": "balances",
    "balance_totals": "balances",
    "topups_by_verdict": "reconciliation_report",
    "exceptions": "reconciliation_exceptions",
}
# Labels and limits the statements take as parameters.
LABELS = {"unknown_model": UNKNOWN_MODEL, "anonymous": ANONYMOUS, "top_n": TOP_N,
          "top_wallets": TOP_WALLETS}
# The session view of the range's curated events the latency statement reads (`{{events}}`).
RANGE_EVENTS = {"events": "range_events"}


@dataclass(frozen=True)
class ReportData:
    """Everything one report shows; rows are plain dicts ready for a chart or a table."""

    first: date
    last: date
    timezone: str
    built_at: datetime
    sections: dict[str, Rows] = field(default_factory=dict)
    latency_by_model: Rows = field(default_factory=list)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def range_label(self) -> str:
        span = f"{self.first}" if self.first == self.last else f"{self.first} – {self.last}"
        return f"{span} ({self.timezone})"

    def rows(self, name: str) -> Rows:
        return self.sections.get(name, [])

    def headline(self) -> dict[str, int | float]:
        """The numbers a reader wants first: usage over the range, funding now."""
        errors = self.rows("daily_errors")
        calls = sum(r["calls"] for r in errors)
        error_calls = sum(r["error_calls"] for r in errors)
        by_model = self.rows("daily_by_model")
        charges = self.rows("charges_by_city")
        totals = (self.rows("balance_totals") or [{"wallets": 0, "total": 0}])[0]
        verdicts = self.rows("topups_by_verdict")
        return {
            "calls": calls,
            "error_rate": error_calls / calls if calls else 0.0,
            "tokens": sum(r["tokens"] for r in by_model),
            "models": len({r["model"] for r in by_model}),
            "event_cost_credits": sum(r["cost_credits"] or 0 for r in by_model),
            "charged_credits": sum(r["credits"] for r in charges),
            "unpriced_charges": sum(r["unpriced"] for r in charges),
            "wallets": totals["wallets"],
            "wallet_credits": totals["total"],
            "topups": sum(r["topups"] for r in verdicts),
            "topups_not_ok": sum(r["topups"] for r in verdicts if r["verdict"] != "ok"),
            "open_exceptions": len(self.rows("exceptions")),
        }


def _fetch(conn: duckdb.DuckDBPyConnection, name: str, params: dict[str, object],
           idents: dict[str, str] | None = None) -> Rows:
    """The rows of `sql/<name>.sql` as dicts; of `params`, the statement gets those it names
    (DuckDB refuses a parameter a statement does not use)."""
    text = load_sql(__file__, name, idents)
    result = run_sql(conn, __file__, name, idents=idents,
                     **{k: v for k, v in params.items() if f"${k}" in text})
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _has_table(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(run_sql(conn, __file__, "has_table", table=name).fetchall()[0][0])


def latency_by_model(
    conn: duckdb.DuckDBPyConnection, events: Location, first: date, last: date
) -> Rows:
    """Exact p50/p95 latency per model over the range (quantiles do not add up across days)."""
    parts = [path for _, path in layout.day_files(events, first, last)]
    if not parts:
        return []
    layout.register_events(conn, events, parts, RANGE_EVENTS["events"])
    return _fetch(conn, "latency_by_model", LABELS, RANGE_EVENTS)


def summarized_days(conn: duckdb.DuckDBPyConnection) -> tuple[date, date] | None:
    """First and last day the daily summaries hold (the default report range)."""
    if not _has_table(conn, "usage_daily_by_model"):
        return None
    first, last = run_sql(conn, __file__, "summarized_days").fetchall()[0]
    return (first, last) if first else None


def default_range(conn: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[date, date]:
    """The last DEFAULT_DAYS summarized days; today (an empty report) before any summary."""
    span = summarized_days(conn)
    if span is None:
        today = datetime.now(settings.tz).date()
        return today, today
    first, last = span
    return max(first, last - timedelta(days=DEFAULT_DAYS - 1)), last


def load_report_data(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    first: date,
    last: date,
    built_at: datetime | None = None,
) -> ReportData:
    """Read every section for the days first..last; a table not built yet reads as empty."""
    params = {**LABELS, "first": first, "last": last}
    sections = {
        name: _fetch(conn, name, params) if _has_table(conn, table) else []
        for name, table in SECTIONS.items()
    }
    return ReportData(
        first=first,
        last=last,
        timezone=settings.timezone,
        built_at=built_at or datetime.now(UTC),
        sections=sections,
        latency_by_model=latency_by_model(conn, settings.events_location(), first, last),
    )
