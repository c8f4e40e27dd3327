"""A landed file read in many small batches (file_scan.BATCH_ROWS lowered) scans exactly as
when read in one batch: the same scanned rows, quarantine (reasons and source_row numbered in
the whole file), day counts, totals and fingerprints; a file-level problem or an undecodable
part found in a later batch rejects the whole file with no scanned rows left behind; and a
file written to while it is read is noticed (landing.open_landed)."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.usage.helpers_landing import NOW, T0, table_of, valid_row
from usage_model.config import Settings
from usage_model.usage import file_scan, landing, scanned
from usage_model.usage.file_scan import FileScan, ScanJob, read_file

ROWS = 40
ROW_GROUP_ROWS = 7  # row groups and batches (4 rows) do not line up
SMALL_BATCH = 4
# row -> the rule it breaks (each in a different small batch)
BAD_ROWS = {3: "missing_event_id", 9: "bad_encoding", 15: "bad_status",
            30: "negative_value"}
DUPLICATE = (2, 25)  # the same event id in two batches: both rows are scanned (dedup is later)


def _rows() -> list[dict]:
    rows = [valid_row(f"e{i}", occurred_at=T0 + timedelta(days=i % 2, minutes=i),
                      input_tokens=i) for i in range(ROWS)]
    rows[DUPLICATE[1]]["event_id"] = rows[DUPLICATE[0]]["event_id"]
    rows[3]["event_id"] = ""
    rows[15]["status"] = "maybe"
    rows[30]["output_tokens"] = -1
    return rows


def _with_invalid_utf8(table: pa.Table, column: str, row: int) -> pa.Table:
    values = [v.encode() if v is not None else None for v in table[column].to_pylist()]
    values[row] = b"city-\xff\xfe"
    broken = pa.array(values, pa.binary()).view(pa.string())  # bytes kept, never validated
    return table.set_column(table.schema.get_field_index(column), column, broken)


def _land(settings: Settings, name: str, table: pa.Table) -> landing.LandedFile:
    path = settings.usage_landing / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS, compression="zstd")
    (landed,) = [f for f in landing.list_landed_files(settings.usage_landing_location())
                 if f.path == name]
    return landed


def _scan(settings: Settings, landed: landing.LandedFile, batch_rows: int,
          monkeypatch: pytest.MonkeyPatch) -> FileScan:
    monkeypatch.setattr(file_scan, "BATCH_ROWS", batch_rows)
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return read_file(conn, ScanJob(landed, scanned.folder(settings), "UTC", NOW))


def _scanned_rows(scan: FileScan) -> list[dict]:
    assert scan.temporary is not None
    return pq.read_table(scan.temporary).sort_by("source_row").to_pylist()


def _leftovers(settings: Settings) -> list[Path]:
    folder = scanned.folder(settings)
    return sorted(folder.iterdir()) if folder.exists() else []


def test_many_small_batches_scan_like_one(settings: Settings, monkeypatch) -> None:
    table = _with_invalid_utf8(table_of(_rows()), "city_id", 9)
    landed = _land(settings, "dt=x/mixed.parquet", table)
    whole = _scan(settings, landed, 1_000, monkeypatch)
    batched = _scan(settings, landed, SMALL_BATCH, monkeypatch)

    # what the input says, independently of the scan
    assert [(r["source_row"], r["reason"]) for r in batched.quarantine.to_pylist()] == sorted(
        BAD_ROWS.items())
    assert "city_id holds text that is not valid UTF-8" in batched.quarantine["detail"][1].as_py()
    assert batched.quarantine["raw_json"][2].as_py().count('"maybe"') == 1
    valid = [i for i in range(ROWS) if i not in BAD_ROWS]
    assert batched.totals[:2] == (ROWS, len(valid))
    by_day = {d: sum(1 for i in valid if i % 2 == k)
              for k, d in enumerate(sorted({T0.date(), (T0 + timedelta(days=1)).date()}))}
    assert {r["day"]: r["rows"] for r in batched.day_counts.to_pylist()} == by_day
    rows = _scanned_rows(batched)
    assert [r["source_row"] for r in rows] == valid
    assert [r["input_tokens"] for r in rows] == valid
    assert rows[valid.index(DUPLICATE[1])]["event_id"] == rows[DUPLICATE[0]]["event_id"]
    digest = hashlib.sha256((settings.usage_landing / landed.path).read_bytes()).hexdigest()
    assert batched.fingerprint == digest

    # and exactly what one batch gives
    assert batched.quarantine.equals(whole.quarantine)
    assert batched.day_counts.equals(whole.day_counts)
    assert (batched.totals, batched.shape, batched.fingerprint, batched.footer_sha256) == (
        whole.totals, whole.shape, whole.fingerprint, whole.footer_sha256)
    assert rows == _scanned_rows(whole)


def test_file_level_problem_in_a_later_batch_rejects_the_whole_file(settings: Settings,
                                                                     monkeypatch) -> None:
    tokens = [float(i) for i in range(ROWS)]
    tokens[33] = 1.5  # input_tokens holds a non-integral value only in the last batches
    table = table_of(_rows()).set_column(
        table_of(_rows()).schema.get_field_index("input_tokens"), "input_tokens",
        pa.array(tokens, pa.float64()))
    landed = _land(settings, "dt=x/floats.parquet", table)
    for batch_rows in (SMALL_BATCH, 1_000):
        scan = _scan(settings, landed, batch_rows, monkeypatch)
        assert scan.rejection is not None
        assert (scan.rejection.reason, scan.rejection.row_count) == ("schema_mismatch", ROWS)
        assert "input_tokens has non-integral values" in scan.rejection.detail
        assert scan.temporary is None
        assert _leftovers(settings) == []


def test_undecodable_part_in_a_later_batch_makes_the_file_unreadable(settings: Settings,
                                                                      monkeypatch) -> None:
    landed = _land(settings, "dt=x/broken.parquet", table_of(_rows()))
    path = settings.usage_landing / landed.path
    chunk = pq.ParquetFile(path).metadata.row_group(4).column(0)  # rows 28-34
    data = bytearray(path.read_bytes())
    start = chunk.data_page_offset + chunk.total_compressed_size // 2
    data[start:start + 8] = b"\xff" * 8  # inside the chunk's compressed page
    path.write_bytes(bytes(data))
    landed = _land_again(settings, landed)
    for batch_rows in (SMALL_BATCH, 1_000):
        scan = _scan(settings, landed, batch_rows, monkeypatch)
        assert scan.rejection is not None, f"batch of {batch_rows} rows read a broken file"
        assert scan.rejection.reason == "unreadable_file"
        assert scan.rejection.detail.startswith("not a readable Parquet file (")
        assert scan.temporary is None
        assert _leftovers(settings) == []


def _land_again(settings: Settings, landed: landing.LandedFile) -> landing.LandedFile:
    return landing.stat_landed(settings.usage_landing_location(), landed.path)


def test_a_write_while_the_file_is_open_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(table_of([valid_row("e1")]), path)
    before = path.read_bytes()
    with landing.open_landed(path) as source:
        assert source.fingerprint == hashlib.sha256(before).hexdigest()
        assert not source.changed()
        with path.open("ab") as appended:
            appended.write(b"more")
        assert source.changed()


def test_a_file_renamed_over_while_open_is_parsed_as_hashed(tmp_path: Path) -> None:
    path, other = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(table_of([valid_row("e1")]), path)
    pq.write_table(table_of([valid_row("e2"), valid_row("e3")]), other)
    hashed = path.read_bytes()
    with landing.open_landed(path) as source:
        os.replace(other, path)
        # the open handle still holds the hashed bytes (the old file's unlink may set its
        # change time: then the caller reads the file again, which is safe)
        assert source.fingerprint == hashlib.sha256(hashed).hexdigest()
        assert pq.ParquetFile(source.source).read()["event_id"].to_pylist() == ["e1"]


def test_a_file_that_cannot_be_opened_has_its_reason(tmp_path: Path) -> None:
    with landing.open_landed(tmp_path / "missing.parquet") as source:
        assert (source.source, source.fingerprint) == (None, None)
        assert source.error == "No such file or directory"
