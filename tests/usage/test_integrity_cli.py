"""Faults as an operator meets them: a deleted file whose rebuild is interrupted by a failing
run (real Dagster runs), and files the process is not allowed to open (the real `city-usage`
command, with permissions enforced). Each case ends equal, table for table, to a clean run
over the same final landing set."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from assets.usage import definitions as usage_defs
from tests.cli_process import run_cli_as_user
from tests.dagster_runs import RANGE_END, RANGE_START, resources, table
from usage_model.config import Settings
from usage_model.usage import layout
from usage_model.usage.ingest import day_path

D1, D2, D3 = date(2026, 4, 7), date(2026, 4, 8), date(2026, 4, 9)
TABLES = ("usage_daily_by_model", "usage_daily_by_city", "usage_daily_by_user",
          "usage_daily_by_service", "usage_monthly_by_model", "usage_monthly_by_city",
          "usage_monthly_by_user", "usage_quarantine", "usage_day_loads")


def _land(settings: Settings, relative: str, day: date, ids: list[str]) -> Path:
    path = settings.usage_landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "event_id": ids,
        "occurred_at": [f"{day}T10:00:00Z"] * len(ids),
        "city_id": ["c1"] * len(ids),
        "status": ["success"] * len(ids),
        "input_tokens": list(range(1, len(ids) + 1)),
    }), path)
    return path


def _snapshot(settings: Settings) -> dict[str, pl.DataFrame]:
    tables = {
        name: table(settings, name).drop("quarantined_at", "built_at", strict=False)
        for name in TABLES
    }
    # A day built empty and a day never built hold the same (no) events.
    tables["usage_day_loads"] = tables["usage_day_loads"].filter(pl.col("rows_indexed") > 0)
    curated = [path for _, path in layout.day_files(settings.events_location())]
    tables["curated"] = pl.concat([pl.read_parquet(p) for p in curated]) if curated else None
    return tables


def _materialize(settings: Settings, start: date, end: date) -> bool:
    """Events and daily summaries over [start, end], then the month's rollups: real runs."""
    instance = dg.DagsterInstance.ephemeral()
    daily = dg.materialize(
        [usage_defs.usage_events, usage_defs.daily_summaries], instance=instance,
        resources=resources(settings), raise_on_error=False,
        tags={RANGE_START: start.isoformat(), RANGE_END: end.isoformat()},
    )
    if not daily.success:
        return False
    return dg.materialize(
        [usage_defs.monthly_summaries], instance=instance, resources=resources(settings),
        partition_key=start.replace(day=1).isoformat(), raise_on_error=False,
    ).success


def _clean_snapshot(settings: Settings, tmp_path: Path, monkeypatch, cli=False):
    """The tables a first run over the same landing folder gives, in a fresh data folder."""
    monkeypatch.setenv("CITY_USAGE_DATA_DIR", str(tmp_path / "clean"))
    monkeypatch.setenv("CITY_USAGE_LANDING", str(settings.landing))
    clean = Settings.from_env()
    if cli:
        done = run_cli_as_user("materialize")
        assert done.returncode == 0, done.stderr
    else:
        assert _materialize(clean, D1, D3)
    return _snapshot(clean)


def _assert_same(got: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]) -> None:
    for name, frame in expected.items():
        if frame is None:
            assert got[name] is None, name
        else:
            assert_frame_equal(got[name], frame, check_row_order=False)


def test_deletion_survives_a_run_that_fails_before_rebuilding(
    settings, dagster_instance, tmp_path, monkeypatch
):
    _land(settings, "a.parquet", D1, ["a1", "a2"])
    doomed = _land(settings, "b.parquet", D2, ["b1", "b2", "b3"])
    _land(settings, "c.parquet", D3, ["c1"])
    assert _materialize(settings, D1, D3)

    doomed.unlink()
    # The next run scans (and records the deletion), then fails writing curated files.
    staging = settings.curated / "_staging"
    staging.rmdir()
    staging.write_text("not a directory")
    assert not _materialize(settings, D1, D1)
    staging.unlink()

    # A later run over another day honours the rebuild the failed run owed.
    assert _materialize(settings, D3, D3)
    assert not day_path(settings, D2).exists()
    by_city = table(settings, "usage_daily_by_city")
    assert by_city.select("day", "calls").sort("day").rows() == [(D1, 2), (D3, 1)]
    assert table(settings, "usage_monthly_by_city")["calls"].to_list() == [3]
    _assert_same(_snapshot(settings), _clean_snapshot(settings, tmp_path, monkeypatch))


def test_files_that_cannot_be_opened_are_quarantined_and_the_rest_loads(
    settings, dagster_instance, tmp_path, monkeypatch
):
    loaded = _land(settings, "a.parquet", D1, ["a1", "a2"])
    _land(settings, "b.parquet", D2, ["b1"])
    assert _materialize(settings, D1, D2)
    mtime = loaded.stat().st_mtime_ns
    loaded.chmod(0)  # a loaded file: same size, same mtime, no longer readable
    os.utime(loaded, ns=(mtime, mtime))
    fresh = _land(settings, "c.parquet", D3, ["c1"])
    fresh.chmod(0)  # a new file nobody may read

    done = run_cli_as_user("materialize")
    if done is None:
        pytest.skip("cannot drop CAP_DAC_OVERRIDE here (setpriv missing or not permitted)")
    assert done.returncode == 0, done.stderr
    problems = sorted(ln for ln in done.stderr.splitlines() if ln.startswith("problem file:"))
    assert problems == [
        "problem file: a.parquet: unreadable_file: cannot be opened (Permission denied)",
        "problem file: c.parquet: unreadable_file: cannot be opened (Permission denied)",
    ]
    quarantine = table(settings, "usage_quarantine")
    assert quarantine.select("source_file", "reason").rows() == [
        ("a.parquet", "unreadable_file"), ("c.parquet", "unreadable_file")]
    assert pl.read_parquet(day_path(settings, D2))["event_id"].to_list() == ["b1"]
    assert not day_path(settings, D1).exists()
    assert table(settings, "usage_daily_by_city").select("day", "calls").rows() == [(D2, 1)]
    recovered = _snapshot(settings)

    _assert_same(recovered, _clean_snapshot(settings, tmp_path, monkeypatch, cli=True))

    # Readable again: the change time says so, and the next run loads both.
    monkeypatch.setenv("CITY_USAGE_DATA_DIR", str(settings.data_dir))
    loaded.chmod(0o644)
    fresh.chmod(0o644)
    assert _materialize(settings, D1, D3)
    assert table(settings, "usage_quarantine").height == 0
    assert table(settings, "usage_daily_by_city")["calls"].sum() == 4


def test_a_build_that_dies_between_curated_writes_and_its_commit_converges(
    settings, dagster_instance, tmp_path, monkeypatch
):
    _land(settings, "a.parquet", D1, ["a1", "a2"])
    _land(settings, "b.parquet", D2, ["b1"])
    # D2's folder is taken by a file: D1's curated file is replaced, then the build fails
    # before the transaction that records the day loads commits.
    blocker = day_path(settings, D2).parent
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    assert not _materialize(settings, D1, D2)
    assert day_path(settings, D1).exists()
    blocker.unlink()

    assert _materialize(settings, D3, D3)  # another range: the owed days are built first
    assert table(settings, "usage_daily_by_city").select("day", "calls").sort("day").rows() == [
        (D1, 2), (D2, 1)]
    _assert_same(_snapshot(settings), _clean_snapshot(settings, tmp_path, monkeypatch))
