"""Measurements the asset checks compare: computed from the curated files and the warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from usage_model.config import Settings
from usage_model.reporting import query_markdown
from usage_model.sql import load_sql, run_sql
from usage_model.usage.summaries import create_events_view

QUALITY_EVENTS = {"events": "quality_events"}  # the temp view the quality check reads


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
    create_events_view(conn, settings, days, QUALITY_EVENTS["events"], apply_record_errors=False)
    row = run_sql(conn, __file__, "event_quality", idents=QUALITY_EVENTS).fetchall()[0]
    preview = query_markdown(conn, load_sql(__file__, "event_preview", QUALITY_EVENTS))
    return EventQuality(*row, preview=preview)


def quarantine_rate(conn: duckdb.DuckDBPyConnection) -> QuarantineRate:
    return QuarantineRate(*run_sql(conn, __file__, "quarantine_rate").fetchall()[0])
