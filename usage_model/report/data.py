"""What the usage and funding report shows, read from the warehouse (no Dagster, no charts).

Usage figures cover the days `first..last` (both included) in the warehouse's time zone and
come from the daily summaries, except latency percentiles, which are exact over the range and
so are computed from the curated events. Funding figures are the current state (balances,
topups by reconciliation verdict, open exceptions): money has no day range of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from usage_model.config import Settings
from usage_model.usage import layout

TOP_N = 10
DEFAULT_DAYS = 30
TOP_WALLETS = 20
ANONYMOUS = "(anonymous)"
UNKNOWN_MODEL = "(no model)"

Rows = list[dict[str, Any]]

_DAY_FILTER = "day BETWEEN $first AND $last"

QUERIES: dict[str, str] = {
    "daily_by_model": f"""
        SELECT strftime(day, '%Y-%m-%d') AS day, coalesce(model_id, '{UNKNOWN_MODEL}') AS model,
               sum(calls)::BIGINT AS calls, sum(error_calls)::BIGINT AS error_calls,
               sum(input_tokens)::BIGINT AS input_tokens,
               sum(output_tokens)::BIGINT AS output_tokens,
               sum(input_tokens + output_tokens)::BIGINT AS tokens,
               sum(cost_credits)::BIGINT AS cost_credits
        FROM usage_daily_by_model WHERE {_DAY_FILTER} GROUP BY ALL ORDER BY day, model""",
    "daily_errors": f"""
        SELECT strftime(day, '%Y-%m-%d') AS day, sum(calls)::BIGINT AS calls,
               sum(error_calls)::BIGINT AS error_calls,
               sum(error_calls) / sum(calls) AS error_rate
        FROM usage_daily_by_model WHERE {_DAY_FILTER} GROUP BY day ORDER BY day""",
    "top_cities": f"""
        SELECT city_id AS city, sum(calls)::BIGINT AS calls,
               sum(error_calls)::BIGINT AS error_calls,
               sum(input_tokens + output_tokens)::BIGINT AS tokens,
               sum(cost_credits)::BIGINT AS cost_credits
        FROM usage_daily_by_city WHERE {_DAY_FILTER}
        GROUP BY ALL ORDER BY calls DESC, city LIMIT {TOP_N}""",
    "top_users": f"""
        SELECT city_id || ' / ' || coalesce(user_id, '{ANONYMOUS}') AS "user",
               city_id AS city, coalesce(user_id, '{ANONYMOUS}') AS user_id,
               sum(calls)::BIGINT AS calls,
               sum(input_tokens + output_tokens)::BIGINT AS tokens,
               sum(cost_credits)::BIGINT AS cost_credits
        FROM usage_daily_by_user WHERE {_DAY_FILTER}
        GROUP BY ALL ORDER BY calls DESC, "user" LIMIT {TOP_N}""",
    "quarantine_by_reason": """
        SELECT reason, count(*) AS entries,
               count(*) FILTER (WHERE source_row IS NULL) AS whole_files,
               coalesce(sum(row_count), 0)::BIGINT AS rows_in_whole_files
        FROM usage_quarantine GROUP BY reason ORDER BY entries DESC, reason""",
    "charges_by_city": """
        SELECT strftime(period, '%Y-%m-%d') AS period, coalesce(city_id, '(none)') AS city,
               hook, count(*) FILTER (WHERE amount_credits IS NOT NULL) AS priced,
               count(*) FILTER (WHERE amount_credits IS NULL) AS unpriced,
               coalesce(sum(amount_credits), 0)::BIGINT AS credits
        FROM charges WHERE period BETWEEN date_trunc('month', $first::DATE) AND $last
        GROUP BY ALL ORDER BY period, credits DESC, city""",
    "balances": f"""
        SELECT user_id, unit, balance FROM balances
        ORDER BY balance DESC, user_id LIMIT {TOP_WALLETS}""",
    "balance_totals": """
        SELECT count(*) AS wallets, coalesce(sum(balance), 0)::BIGINT AS total,
               count(*) FILTER (WHERE balance < 0) AS negative
        FROM balances""",
    "topups_by_verdict": """
        SELECT verdict, count(*) FILTER (WHERE row_kind = 'topup') AS topups,
               count(*) FILTER (WHERE row_kind = 'stripe_payment') AS payments,
               count(*) FILTER (WHERE stale_pending) AS stale_pending,
               coalesce(sum(credits_at_stake), 0)::BIGINT AS credits_at_stake
        FROM reconciliation_report GROUP BY verdict ORDER BY credits_at_stake DESC, verdict""",
    "exceptions": """
        SELECT reason, coalesce(topup_id, '') AS topup_id, coalesce(user_id, '') AS user_id,
               coalesce(detail, '') AS detail, strftime(first_seen_at, '%Y-%m-%d %H:%M') AS since
        FROM reconciliation_exceptions ORDER BY first_seen_at, reason, topup_id""",
}


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


def _fetch(conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> Rows:
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    result = conn.execute(sql, used) if used else conn.execute(sql)
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _has_table(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = $t", {"t": name}
    ).fetchone()
    return bool(found and found[0])


def _source_table(sql: str) -> str:
    return sql.split(" FROM ", 1)[1].split()[0]


def curated_day_parts(root: Path, first: date, last: date) -> list[Path]:
    """The curated events' day files (`day=YYYY-MM-DD/part-0.parquet`) within first..last."""
    return [part for _, part in layout.day_files(root, first, last)]


def latency_by_model(
    conn: duckdb.DuckDBPyConnection, events_root: Path, first: date, last: date
) -> Rows:
    """Exact p50/p95 latency per model over the range (quantiles do not add up across days)."""
    parts = curated_day_parts(events_root, first, last)
    if not parts:
        return []
    return _fetch(
        conn,
        f"""SELECT coalesce(model_id, '{UNKNOWN_MODEL}') AS model,
                   count(latency_ms) AS timed_calls,
                   round(quantile_cont(latency_ms, 0.5), 1) AS p50_ms,
                   round(quantile_cont(latency_ms, 0.95), 1) AS p95_ms
            FROM read_parquet($parts) WHERE latency_ms IS NOT NULL
            GROUP BY ALL ORDER BY p95_ms DESC, model""",
        {"parts": [str(p) for p in parts]},
    )


def summarized_days(conn: duckdb.DuckDBPyConnection) -> tuple[date, date] | None:
    """First and last day the daily summaries hold (the default report range)."""
    if not _has_table(conn, "usage_daily_by_model"):
        return None
    first, last = conn.execute("SELECT min(day), max(day) FROM usage_daily_by_model").fetchone()
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
    params = {"first": first, "last": last}
    sections = {
        name: _fetch(conn, sql, params) if _has_table(conn, _source_table(sql)) else []
        for name, sql in QUERIES.items()
    }
    return ReportData(
        first=first,
        last=last,
        timezone=settings.timezone,
        built_at=built_at or datetime.now(UTC),
        sections=sections,
        latency_by_model=latency_by_model(conn, settings.events_root, first, last),
    )
