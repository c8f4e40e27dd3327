"""Faults at the landing boundary, in process: a rewrite that keeps size and mtime, a file that
turns unreadable or changes between the scan and the build, text that is not UTF-8, and the
rebuild intents a scan leaves in the warehouse. Real Parquet files, a real DuckDB file."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tests.usage.helpers_landing import (
    T0,
    assert_conserved,
    ingest,
    land,
    read_curated,
    table_of,
    valid_row,
)
from usage_model.config import Settings
from usage_model.usage import id_index
from usage_model.usage.ingest import build_days, scan_landing
from usage_model.usage.landing import footer_fingerprint
from usage_model.warehouse import connect

D1 = T0.date()
D2 = D1 + timedelta(days=1)


def _rewrite_in_place(path: Path, data: pa.Table | bytes, **write_options) -> None:
    """Replace a file's bytes and put its size and mtime back, as `cp -p` or `rsync -t` do."""
    before = path.stat()
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        pq.write_table(data, path, **write_options)
    assert path.stat().st_size == before.st_size  # premise: the same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _garbage_of_size(path: Path) -> bytes:
    return b"\x00" * path.stat().st_size


def _quarantine_details(settings: Settings) -> dict[tuple[str, int | None], tuple[str, str]]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        rows = conn.execute(
            "SELECT source_file, source_row, reason, detail FROM usage_quarantine"
        ).fetchall()
    return {(f, r): (reason, detail) for f, r, reason, detail in rows}


def test_rewrite_keeping_size_mtime_and_footer_is_seen(settings: Settings):
    # Uncompressed, fixed-width values, the same min and max: the rewritten file has the same
    # size and the same footer (statistics, offsets), only a data page differs.
    rows = [valid_row("e1", input_tokens=5), valid_row("e2", input_tokens=10),
            valid_row("e3", input_tokens=20)]
    path = settings.usage_landing / "a.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table_of(rows), path, compression="none")
    land(settings, "z.parquet", [valid_row("e2", input_tokens=10)])  # identical copy
    first = ingest(settings)
    assert first.build.identical_duplicates == 1
    footer_before = footer_fingerprint(path)

    rows[1] = valid_row("e2", input_tokens=11)
    _rewrite_in_place(path, table_of(rows), compression="none")
    assert footer_fingerprint(path) == footer_before  # premise: the footer cannot tell

    second = ingest(settings)
    assert second.scan.changed_files == ["a.parquet"]
    assert second.by_id()["e2"]["input_tokens"] == 11
    # z's copy now differs from the winner: a conflict, not an identical duplicate
    assert second.reasons() == {("z.parquet", 0): "duplicate_conflict"}
    assert second.build.identical_duplicates == 0
    assert_conserved(settings, rows_landed=4)


def test_touch_alone_rescans_nothing(settings: Settings):
    path = land(settings, "a.parquet", [valid_row("t1")])
    ingest(settings)
    later = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))
    out = ingest(settings)
    assert (out.scan.new_files, out.scan.changed_files) == ([], [])
    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        assert conn.execute("SELECT mtime_ns FROM usage_files").fetchall() == [(later,)]
    assert out.accepted_ids() == ["t1"]


def test_bytes_overwritten_with_mtime_restored_are_quarantined(settings: Settings):
    path = land(settings, "a.parquet", [valid_row("gone-1"), valid_row("gone-2")])
    land(settings, "b.parquet", [valid_row("stay-1", occurred_at=T0 + timedelta(days=1))])
    assert ingest(settings).accepted_ids() == ["gone-1", "gone-2", "stay-1"]

    _rewrite_in_place(path, _garbage_of_size(path))
    out = ingest(settings, only_touched=True)  # what a sensor-driven run rebuilds

    assert out.scan.changed_files == ["a.parquet"]
    assert out.accepted_ids() == ["stay-1"]
    reason, detail = _quarantine_details(settings)[("a.parquet", None)]
    assert reason == "unreadable_file"
    assert detail.startswith("a.parquet: unreadable_file: ")
    assert str(settings.usage_landing) not in detail
    assert_conserved(settings, rows_landed=1)


def test_file_that_turns_unreadable_between_scan_and_build_is_quarantined(settings: Settings):
    path = land(settings, "a.parquet", [valid_row("a1"), valid_row("a2")])
    land(settings, "b.parquet", [valid_row("b1")])
    with connect(settings.warehouse) as conn:
        scan_landing(conn, settings)
        _rewrite_in_place(path, _garbage_of_size(path))
        build = build_days(conn, settings, [D1])
    assert sorted(r["event_id"] for r in read_curated(settings)) == ["b1"]
    assert _quarantine_details(settings)[("a.parquet", None)][0] == "unreadable_file"
    assert_conserved(settings, rows_landed=1)
    assert build.rescan.changed_files == ["a.parquet"]
    assert build.rows_in_manifest == build.rows_indexed == 1


def test_file_rewritten_between_scan_and_build_is_indexed_anew(settings: Settings):
    path = land(settings, "a.parquet", [valid_row("a1", input_tokens=1)])
    with connect(settings.warehouse) as conn:
        scan_landing(conn, settings)
        # the new version moves the event to another day and changes its content
        _rewrite_in_place(path, table_of(
            [valid_row("a1", input_tokens=2, occurred_at=T0 + timedelta(days=1))]))
        build = build_days(conn, settings, [D1])
        id_index.install_view(conn, settings)
        index = conn.execute("SELECT event_id, day FROM usage_event_index").fetchall()
    curated = read_curated(settings)
    assert [(r["event_id"], r["input_tokens"]) for r in curated] == [("a1", 2)]
    assert index == [("a1", D2)]
    assert build.days == [D1, D2]  # the new version's day is built too
    assert build.rescan.changed_files == ["a.parquet"]
    assert build.rows_in_manifest == build.rows_indexed == 1


def _with_bad_utf8(values: list[bytes]) -> pa.Array:
    """A string-typed column whose bytes are not all UTF-8 (pyarrow does not check a view)."""
    return pa.array(values, pa.binary()).view(pa.string())


def test_text_that_is_not_utf8_quarantines_its_row_and_the_rest_loads(settings: Settings):
    base = table_of([valid_row("ok-1"), valid_row("ok-2"), valid_row("ok-3"),
                     valid_row("ok-4")])
    bad = base.set_column(
        base.schema.get_field_index("event_id"), "event_id",
        _with_bad_utf8([b"ok-1", b"bad-\xff\xfe", b"ok-3", b"ok-4"]),
    ).set_column(
        base.schema.get_field_index("city_id"), "city_id",
        _with_bad_utf8([b"city-1", b"city-1", b"city-1", b"c\xc3"]),
    ).append_column("note", _with_bad_utf8([b"fine", b"fine", b"\x80 ignored", b"fine"]))
    land(settings, "a.parquet", bad)
    land(settings, "b.parquet", [valid_row("b-1")])  # sorts after: still scanned and loaded

    out = ingest(settings)

    # ok-3's bad bytes are in a column the event model ignores: it loads
    assert out.accepted_ids() == ["b-1", "ok-1", "ok-3"]
    assert out.reasons() == {("a.parquet", 1): "bad_encoding", ("a.parquet", 3): "bad_encoding"}
    quarantined = {q["source_row"]: q for q in out.quarantine}
    assert quarantined[1]["detail"] == (
        "a.parquet row 1 (event_id bad-\ufffd\ufffd): event_id holds text that is not valid UTF-8"
    )
    assert quarantined[3]["detail"].endswith(": city_id holds text that is not valid UTF-8")
    assert json.loads(quarantined[3]["raw_json"])["city_id"] == "c\ufffd"
    assert_conserved(settings, rows_landed=5)


def test_scan_records_rebuild_intents_with_the_manifest_change(settings: Settings):
    land(settings, "a.parquet", [valid_row("a1"), valid_row("a2", occurred_at=T0 + timedelta(
        days=1))])
    doomed = land(settings, "b.parquet", [valid_row("b1", occurred_at=T0 + timedelta(days=1))])
    ingest(settings)
    doomed.unlink()
    with connect(settings.warehouse) as conn:  # the run dies right after its scan
        scan_landing(conn, settings)
    with connect(settings.warehouse) as conn:
        pending = conn.execute(
            "SELECT target, day, reason, source_path FROM usage_rebuild_intents "
            "WHERE target = 'usage_events'"
        ).fetchall()
        manifest = conn.execute("SELECT path FROM usage_files").fetchall()
    assert pending == [("usage_events", D2, "removed_file", "b.parquet")]
    assert manifest == [("a.parquet",)]
