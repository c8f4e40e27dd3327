"""The landing manifest and the dedup index.

Deduplication must not trust a weak hash. The two strings below (shifted digits) were chosen
because DuckDB 2.0's hash() maps them to the same 64-bit value; whatever a future hash does
with them, as ids they are different events, and as content they make two copies of one
event_id different (a conflict), never identical duplicates."""

from __future__ import annotations

import duckdb

from tests.usage.helpers_landing import ingest, land, valid_row

A, B = "evt-11000-20260301-122900", "evt-11000-20260401-122970"


def test_colliding_ids_are_two_events(settings):
    land(settings, "a.parquet", [valid_row(A), valid_row(B)])
    outcome = ingest(settings)
    assert outcome.accepted_ids() == sorted([A, B])
    assert outcome.quarantine == []


def test_content_that_collides_is_a_conflict_not_a_duplicate(settings):
    land(settings, "a.parquet", [valid_row("e1", metadata_json=A)])
    land(settings, "b.parquet", [valid_row("e1", metadata_json=B)])
    outcome = ingest(settings)
    assert outcome.accepted_ids() == ["e1"]
    assert outcome.by_id()["e1"]["metadata_json"] == A  # a.parquet sorts first
    assert outcome.reasons() == {("b.parquet", 0): "duplicate_conflict"}
    assert outcome.build.identical_duplicates == 0


def test_manifest_records_each_files_size_fingerprint_and_event_time_range(settings):
    import hashlib
    from datetime import UTC, datetime

    path = land(settings, "m.parquet", [
        valid_row("m1", occurred_at=datetime(2026, 3, 5, 1, 0, tzinfo=UTC)),
        valid_row("m2", occurred_at=datetime(2026, 3, 6, 23, 30, tzinfo=UTC)),
    ])
    ingest(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        row = conn.execute(
            "SELECT size_bytes, fingerprint, min_occurred_at, max_occurred_at, min_day, max_day "
            "FROM usage_files WHERE path = 'm.parquet'"
        ).fetchall()[0]
    assert row[0] == path.stat().st_size
    assert row[1] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert row[2] == datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
    assert row[3] == datetime(2026, 3, 6, 23, 30, tzinfo=UTC)
    assert (str(row[4]), str(row[5])) == ("2026-03-05", "2026-03-06")
