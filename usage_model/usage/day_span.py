"""The first and last day the landed usage files touch: what `city-usage materialize` builds
when no days are given.

A file the manifest already holds with the same content (landing.same_content: its size and
times, and on an object store its footer until it is settled) contributes the days its scan
recorded; only new or changed files have their time column read. So finding the span costs
one listing plus the new files, not a read of every file of the history (on S3, two ranged
GETs per file).
"""

from __future__ import annotations

from datetime import date

import duckdb

from usage_model.config import Settings
from usage_model.sql import run_sql
from usage_model.usage.landing import (
    LandedFile,
    StoredIdentity,
    days_in_file,
    list_landed_files,
    same_content,
)
from usage_model.warehouse import WarehouseLocked, WarehouseMissing, connect

Known = dict[str, tuple[StoredIdentity, date | None, date | None]]


def _known(settings: Settings) -> Known:
    """The manifest's files with their recorded days; empty when there is no warehouse yet,
    another process holds it, or it predates the columns read (then every file is read)."""
    try:
        with connect(settings.warehouse, read_only=True) as conn:
            rows = run_sql(conn, __file__, "manifest_day_spans").fetchall()
    except (WarehouseMissing, WarehouseLocked, duckdb.Error):
        return {}
    return {row[0]: (StoredIdentity(*row[1:7]), row[7], row[8]) for row in rows}


def _days(landed: LandedFile, known: Known, timezone: str) -> set[date]:
    entry = known.get(landed.path)
    if entry is not None and same_content(landed, entry[0]):
        return {day for day in entry[1:] if day is not None}
    return days_in_file(landed.absolute, timezone, landed.fs)


def landed_day_span(settings: Settings) -> tuple[date, date] | None:
    """(first, last) day any landed usage file touches; None when none does."""
    known = _known(settings)
    days: set[date] = set()
    for landed in list_landed_files(settings.usage_landing_location()):
        days |= _days(landed, known, settings.timezone)
    return (min(days), max(days)) if days else None
