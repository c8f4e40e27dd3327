"""Measurements the asset checks compare: computed from the curated files and the warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from usage_model.config import Settings
from usage_model.reporting import query_markdown
from usage_model.usage.summaries import create_events_view
from usage_model.warehouse import fetch_one

EVENT_QUALITY_SQL = """
SELECT count(*), count(*) - count(DISTINCT event_id),
       count(*) FILTER (WHERE status = 'error'),
       count(*) FILTER (WHERE least(input_tokens, output_tokens, cached_input_tokens,
                                    reasoning_tokens) < 0 OR latency_ms < 0),
       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)
FROM quality_events
"""

QUARANTINE_RATE_SQL = """
SELECT (SELECT count(*) FROM usage_quarantine),
       (SELECT count(*) FILTER (WHERE source_row IS NOT NULL)
               + coalesce(sum(row_count) FILTER (WHERE source_row IS NULL), 0)
        FROM usage_quarantine),
       (SELECT coalesce(sum(rows_read), 0) FROM usage_files)
"""


@dataclass(frozen=True)
class EventQuality:
    calls: int
    duplicate_ids: int
    error_calls: int
    negative_rows: int
    input_tokens: int
    output_tokens: int
    preview: str

    @property
    def error_rate(self) -> float:
        return self.error_calls / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class QuarantineRate:
    quarantine_entries: int
    rows_quarantined: int
    rows_read: int

    @property
    def rate(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


def event_quality(
    conn: duckdb.DuckDBPyConnection, settings: Settings, days: list[date]
) -> EventQuality:
    create_events_view(conn, settings, days, "quality_events", apply_record_errors=False)
    row = fetch_one(conn, EVENT_QUALITY_SQL)
    preview = query_markdown(
        conn,
        "SELECT event_id, occurred_at, city_id, user_id, model_id, status, input_tokens, "
        "output_tokens FROM quality_events LIMIT 10",
    )
    return EventQuality(*row, preview=preview)


def quarantine_rate(conn: duckdb.DuckDBPyConnection) -> QuarantineRate:
    return QuarantineRate(*fetch_one(conn, QUARANTINE_RATE_SQL))
