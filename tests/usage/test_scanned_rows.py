"""The scan keeps each landed file's normalized valid rows (`usage_model/usage/scanned.py`) and
the build reads those, never the landed file: scanned rows that go missing or are damaged are
rebuilt from the landed file, and scanned files no manifest entry owns are removed. Real
Parquet files, a real DuckDB file."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.usage.helpers_landing import T0, assert_conserved, ingest, land, valid_row
from usage_model.config import Settings
from usage_model.usage import scanned
from usage_model.usage.ingest import build_days, scan_landing
from usage_model.warehouse import connect

D1 = T0.date()


def _scanned_files(settings: Settings) -> list[str]:
    root = scanned.folder(settings)
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_build_reads_the_scanned_rows_once_per_file_and_keeps_exact_values(settings: Settings):
    land(settings, "a.parquet", [valid_row("a1", input_tokens=7, metadata_json='{"k": 1}'),
                                 valid_row("dup", input_tokens=1)])
    land(settings, "b.parquet", [valid_row("dup", input_tokens=1),
                                 valid_row("b1", occurred_at=T0 + timedelta(days=1))])
    out = ingest(settings)
    assert len(_scanned_files(settings)) == 2  # one per landed file
    by_id = out.by_id()
    assert sorted(by_id) == ["a1", "b1", "dup"]
    assert (by_id["a1"]["input_tokens"], by_id["a1"]["metadata_json"]) == (7, '{"k": 1}')
    assert by_id["dup"]["source_file"] == "a.parquet"  # first seen by path (rule 7)
    assert out.build.identical_duplicates == 1 and out.build.conflicts == 0
    assert_conserved(settings, rows_landed=4)


def test_lost_scanned_rows_are_scanned_again_from_the_landed_file(settings: Settings):
    land(settings, "a.parquet", [valid_row("a1"), valid_row("a2")])
    land(settings, "b.parquet", [valid_row("b1")])
    ingest(settings)
    lost = scanned.folder(settings) / _scanned_files(settings)[0]
    lost.unlink()  # e.g. a crash between forgetting a file and its new scan
    damaged = scanned.folder(settings) / _scanned_files(settings)[-1]
    damaged.write_bytes(b"not parquet")
    with connect(settings.warehouse) as conn:
        build = build_days(conn, settings, [D1])
    assert sorted(build.rescan.changed_files) == ["a.parquet", "b.parquet"]
    assert build.accepted == 3 and build.rows_in_manifest == build.rows_indexed == 3
    assert len(_scanned_files(settings)) == 2
    assert_conserved(settings, rows_landed=3)


def test_scanned_rows_of_forgotten_files_and_dead_scans_are_removed(settings: Settings):
    path = land(settings, "a.parquet", [valid_row("a1")])
    land(settings, "b.parquet", [valid_row("b1")])
    ingest(settings)
    orphan = scanned.folder(settings) / "file=99-0123456789abcdef.parquet"
    orphan.write_bytes(b"left by a scan that never committed")
    (scanned.folder(settings) / "_0a1b.tmp").write_bytes(b"half written")
    path.unlink()
    with connect(settings.warehouse) as conn:
        scan = scan_landing(conn, settings)
    assert scan.removed_files == ["a.parquet"]
    remaining = _scanned_files(settings)
    assert len(remaining) == 1 and remaining[0].startswith("file=2-")  # b.parquet's
    out = ingest(settings)
    assert out.accepted_ids() == ["b1"]
    assert_conserved(settings, rows_landed=1)



def _land_winner_then_copies_on_the_next_day(settings: Settings) -> Settings:
    """`w` first seen in a.parquet on D1. Then the same instant (10:00 UTC) lands in b.parquet
    (identical) and c.parquet (other tokens) and is scanned in a zone where it falls on the
    next day (UTC+14), so the winner is a copy on another day. Returns those settings."""
    land(settings, "a.parquet", [valid_row("w", input_tokens=5), valid_row("a1")])
    ingest(settings)
    land(settings, "b.parquet", [valid_row("w", input_tokens=5)])
    land(settings, "c.parquet", [valid_row("w", input_tokens=6)])
    return replace(settings, timezone="Pacific/Kiritimati")


def _build_next_day_only(settings: Settings):
    """Scan, then build only the day after D1 (as a run for that one partition would)."""
    with connect(settings.warehouse) as conn:
        scan_landing(conn, settings)
        build = build_days(conn, settings, [D1 + timedelta(days=1)])
        quarantine = conn.execute(
            "SELECT source_file, source_row, reason, detail FROM usage_quarantine").fetchall()
    return build, quarantine


def test_copies_of_a_winner_on_another_day_are_compared_with_its_scanned_row(
    settings: Settings,
):
    shifted = _land_winner_then_copies_on_the_next_day(settings)
    build, quarantine = _build_next_day_only(shifted)
    assert build.days == [D1 + timedelta(days=1)]  # the winner's day stays outside the window
    assert (build.accepted, build.identical_duplicates, build.conflicts) == (0, 1, 1)
    assert [q[:3] for q in quarantine] == [("c.parquet", 0, "duplicate_conflict")]
    assert "first-seen copy at a.parquet row 0" in quarantine[0][3]


def test_a_winner_on_another_day_whose_scanned_rows_are_lost_is_scanned_again(
    settings: Settings,
):
    shifted = _land_winner_then_copies_on_the_next_day(settings)
    (scanned.folder(settings) / _scanned_files(settings)[0]).unlink()  # a.parquet's
    build, quarantine = _build_next_day_only(shifted)
    assert build.rescan.changed_files == ["a.parquet"]
    # a.parquet is scanned again (in the new zone: its rows move to the next day); its old
    # day is rebuilt too
    assert build.days == [D1, D1 + timedelta(days=1)]
    assert build.per_day == {D1: 0, D1 + timedelta(days=1): 2}
    assert (build.accepted, build.identical_duplicates, build.conflicts) == (2, 1, 1)
    assert [q[:3] for q in quarantine] == [("c.parquet", 0, "duplicate_conflict")]
