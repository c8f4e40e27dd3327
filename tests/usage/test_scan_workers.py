"""CITY_USAGE_SCAN_WORKERS: files read by a pool of worker processes leave exactly what the
one-after-another scan leaves (manifest, quarantine, file days, scanned rows, curated events),
and a worker that fails or dies only sends its files back to the pipeline's own read.
Real Parquet files, real DuckDB files, real spawned processes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.usage.helpers_landing import T0, assert_conserved, ingest, land, valid_row
from usage_model.config import Environment, Settings
from usage_model.usage import scanned
from usage_model.warehouse import connect

# Rows in the landing below that can be counted (the unreadable file's cannot).
ROWS_LANDED = 9


def _settings(root: Path, workers: int) -> Settings:
    data = root / "data"
    return Settings(data_dir=data, landing=data / "landing", warehouse=data / "warehouse.duckdb",
                    curated=data / "curated", exports=data / "exports", scan_workers=workers)


def _land_mixed(settings: Settings) -> None:
    """Bad rows, a bad file, identical and conflicting copies across files and days."""
    land(settings, "dt=a/1.parquet", [
        valid_row("e1"), valid_row("dup"), valid_row("conflict", input_tokens=1),
        valid_row("", input_tokens=3),  # missing_event_id
        valid_row("neg", output_tokens=-5),  # negative tokens
    ])
    land(settings, "dt=a/2.parquet", [
        valid_row("dup"), valid_row("conflict", input_tokens=2),
        valid_row("e2", occurred_at=T0 + timedelta(days=1)),
    ])
    land(settings, "dt=b/3.parquet", [valid_row("e3", occurred_at=T0 + timedelta(days=2))])
    land(settings, "dt=b/broken.parquet", b"not a parquet file")
    land(settings, "dt=b/empty.parquet", [])


def _warehouse_state(settings: Settings) -> dict[str, Any]:
    with connect(settings.warehouse) as conn:
        def rows(sql: str) -> list[tuple]:
            return conn.execute(sql).fetchall()
        manifest = rows(
            "SELECT file_id, path, size_bytes, fingerprint, footer_sha256, shape, status, "
            "rows_read, rows_valid, rows_invalid, min_day, max_day, min_occurred_at, "
            "max_occurred_at FROM usage_files ORDER BY file_id")
        state = {
            "manifest": manifest,
            "quarantine": rows(
                "SELECT source_file, source_row, event_id, day, reason, detail, raw_json, "
                "row_count FROM usage_quarantine ORDER BY ALL"),
            "file_days": rows("SELECT * FROM usage_file_days ORDER BY ALL"),
            "loads": rows("SELECT day, rows_indexed, accepted, identical_duplicates, "
                          "conflicts FROM usage_day_loads ORDER BY day"),
            "conflicts": rows("SELECT * EXCLUDE (detected_at) FROM usage_conflicts "
                              "ORDER BY ALL") if _has_conflicts_table(conn) else [],
        }
    state["scanned"] = {
        path: pq.read_table(scanned.path_of(settings, file_id, fp)).sort_by("source_row")
        .to_pylist()
        for file_id, path, _, fp, _, _, status, *_ in manifest if status == "ok"
    }
    return state


def _has_conflicts_table(conn: Any) -> bool:
    return bool(conn.execute("SELECT count(*) FROM duckdb_tables() "
                             "WHERE table_name = 'usage_conflicts'").fetchall()[0][0])


def _outcome(settings: Settings) -> dict[str, Any]:
    _land_mixed(settings)
    out = ingest(settings)
    assert_conserved(settings, rows_landed=ROWS_LANDED)
    state = _warehouse_state(settings)
    state["curated"] = sorted(out.curated, key=lambda r: r["event_id"])
    state["problems"] = out.scan.problems
    return state


def test_a_pool_of_two_scans_exactly_like_one_process(tmp_path: Path):
    serial = _outcome(_settings(tmp_path / "serial", workers=1))
    pooled = _outcome(_settings(tmp_path / "pooled", workers=2))
    assert serial == pooled
    # The landing really had what the comparison is about.
    assert {q[4] for q in serial["quarantine"]} >= {"missing_event_id", "unreadable_file"}
    assert [c for c in serial["curated"] if c["event_id"] == "conflict"][0]["input_tokens"] == 1
    assert len(serial["scanned"]) == 3 and len(serial["curated"]) == 5


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_a_failing_worker_sends_its_files_back_to_the_pipelines_own_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, how: str
):
    serial = _outcome(_settings(tmp_path / "serial", workers=1))
    # Each worker process fails at its first file (raises, or dies by SIGKILL, which breaks
    # the whole pool): those files are read by the pipeline's process instead.
    monkeypatch.setenv("CITY_USAGE_FAULT_POINT",
                       "scan_worker_file:1" + (":raise" if how == "raise" else ""))
    pooled = _outcome(_settings(tmp_path / "pooled", workers=2))
    assert serial == pooled
    assert "scan worker failed" in caplog.text  # the fault did fire in a worker
    assert not [p for p in scanned.folder(_settings(tmp_path / "pooled", 2)).iterdir()
                if p.name.startswith("_")]  # no temporary scanned file left behind


def test_scan_workers_setting_is_read_and_checked(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CITY_USAGE_SCAN_WORKERS", "3")
    assert Environment.load().settings().scan_workers == 3
    monkeypatch.setenv("CITY_USAGE_SCAN_WORKERS", "0")
    with pytest.raises(Exception, match="CITY_USAGE_SCAN_WORKERS"):
        Environment.load()
