"""The ingestion's read steps (usage_model/usage/file_reads.py): files planned in shares, read
and stored by steps that never open the warehouse, then recorded by the warehouse step, leave
exactly what the one-process scan leaves; a stored read that is missing, stale or unreadable
only sends its file back to the warehouse step's own read. Real Parquet files, real DuckDB
files, and the real Dagster graph for the step layout."""

from __future__ import annotations

import json
import pickle
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tests.dagster_runs import materialize_days, table
from tests.usage.helpers_landing import (
    NOW,
    T0,
    assert_conserved,
    ingest,
    land,
    read_curated,
    valid_row,
)
from tests.usage.test_scan_workers import ROWS_LANDED, _land_mixed, _settings, _warehouse_state
from usage_model.config import Environment, Settings
from usage_model.usage import file_reads, stored_scan
from usage_model.usage.ingest import build_days, scan_landing
from usage_model.usage.sample import write_sample_landing
from usage_model.warehouse import connect

RUN = "run-1"
# The daily summaries' steps without compute steps (CITY_USAGE_SUMMARY_STEPS=0).
SUMMARY_STEPS = ("build_daily_summaries.plan_summary_days",
                 "build_daily_summaries.commit_summaries")


def _plan_and_read(settings: Settings, steps: int) -> list[file_reads.ReadTask]:
    """What the graph's plan and read steps do: plan shares, read and store each."""
    with connect(settings.warehouse) as conn:
        shares = file_reads.plan_reads(conn, settings, steps, now=NOW)
    assert len(shares) == min(steps, sum(len(s) for s in shares))  # no empty share
    return [task for share in shares for task in file_reads.read_and_store(settings, share, RUN)]


def _record_and_build(settings: Settings, stored: list[file_reads.ReadTask]) -> dict[str, Any]:
    """What the graph's warehouse step does, then the same state the one-process scan is
    compared on."""
    with connect(settings.warehouse) as conn:
        scan = scan_landing(conn, settings, now=NOW,
                            pre_read=file_reads.stored_scans(settings, stored, RUN))
        days = {r[0] for r in conn.execute("SELECT day FROM usage_file_days").fetchall()}
        build_days(conn, settings, days, now=NOW)
    file_reads.remove_run(settings, RUN)
    assert_conserved(settings, rows_landed=ROWS_LANDED)
    state = _warehouse_state(settings)
    state["problems"] = scan.problems
    return state


def _one_process(settings: Settings) -> dict[str, Any]:
    _land_mixed(settings)
    out = ingest(settings)
    state = _warehouse_state(settings)
    state["problems"] = out.scan.problems
    return state


def _exchange_files(settings: Settings) -> list[tuple[str, ...]]:
    """Files under the exchange location, as path parts below it (run id first)."""
    root = Path(file_reads.exchange_location(settings).root)
    if not root.exists():
        return []
    return sorted(p.relative_to(root).parts for p in root.rglob("*") if p.is_file())


def test_read_steps_leave_what_one_process_leaves(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture):
    expected = _one_process(_settings(tmp_path / "serial", workers=1))
    settings = _settings(tmp_path / "steps", workers=1)
    _land_mixed(settings)
    stored = _plan_and_read(settings, steps=3)
    # Every landed file was read by a step, the unreadable one too (its rejection is stored).
    assert sorted(t.path for t in stored) == sorted(
        ["dt=a/1.parquet", "dt=a/2.parquet", "dt=b/3.parquet", "dt=b/broken.parquet",
         "dt=b/empty.parquet"])
    assert _record_and_build(settings, stored) == expected
    assert "stored read unusable" not in caplog.text  # every stored read was taken as stored
    assert _exchange_files(settings) == []  # the stored reads are removed once recorded


def test_read_steps_on_a_process_pool_leave_the_same(tmp_path: Path):
    expected = _one_process(_settings(tmp_path / "serial", workers=1))
    settings = _settings(tmp_path / "pooled", workers=2)
    _land_mixed(settings)
    assert _record_and_build(settings, _plan_and_read(settings, steps=1)) == expected


def test_missing_stale_or_broken_stored_reads_are_read_by_the_warehouse_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    expected_root = tmp_path / "serial"
    settings = _settings(tmp_path / "steps", workers=1)
    _land_mixed(settings)
    stored = _plan_and_read(settings, steps=2)
    where = file_reads.exchange_location(settings)
    by_path = {t.path: t for t in stored}
    # Missing: the stored read of one file is gone.
    where.remove_folder(where.path(RUN, by_path["dt=b/empty.parquet"].key))
    # Tampered: another's stored scan is a pickle whose loading would run code (as one
    # written to a shared bucket by someone else could be); it is rejected, never unpickled.
    tampered = Path(where.path(RUN, by_path["dt=b/3.parquet"].key, stored_scan.SCAN_NAME))
    ran = tmp_path / "code-ran"
    tampered.write_bytes(pickle.dumps(_RunsCode(ran)))
    # Malformed: a third's is JSON of the wrong shape (a count as text).
    malformed = Path(where.path(RUN, by_path["dt=a/1.parquet"].key, stored_scan.SCAN_NAME))
    record = json.loads(malformed.read_text())
    record["totals"]["rows"] = str(record["totals"]["rows"])
    malformed.write_text(json.dumps(record))
    # Stale: a file rewritten after its read step (new rows): its stored read no longer lists
    # it, so the warehouse step reads the new bytes.
    rewritten = [valid_row("dup"), valid_row("conflict", input_tokens=2),
                 valid_row("e2", occurred_at=T0 + timedelta(days=1)),
                 valid_row("late-new")]
    land(settings, "dt=a/2.parquet", rewritten)
    got = _record_and_build_any(settings, stored)

    reference = _settings(expected_root, workers=1)
    _land_mixed(reference)
    land(reference, "dt=a/2.parquet", rewritten)
    expected = ingest(reference)
    assert got["manifest"] == _warehouse_state(reference)["manifest"]
    assert got["curated"] == sorted(expected.curated, key=lambda r: r["event_id"])
    assert "late-new" in {r["event_id"] for r in got["curated"]}
    # The missing, tampered and malformed ones were noticed, not trusted, and named.
    assert got["unusable"] == ["dt=a/1.parquet", "dt=b/3.parquet", "dt=b/empty.parquet"]
    assert "stored read unusable" in caplog.text
    assert not ran.exists()
    warnings = [r.getMessage() for r in caplog.records if "stored read unusable" in r.message]
    assert any("dt=b/3.parquet" in w and "scan.json" in w for w in warnings), warnings
    assert any("dt=a/1.parquet" in w and "key totals.rows" in w for w in warnings), warnings
    assert all("\n" not in w for w in warnings)


class _RunsCode:
    """Unpickling this touches `marker`: what a planted pickle could do, harmlessly."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _record_and_build_any(settings: Settings, stored: list[file_reads.ReadTask]
                          ) -> dict[str, Any]:
    """_record_and_build for a landing whose row count differs from _land_mixed's."""
    pre_read = file_reads.stored_scans(settings, stored, RUN)
    with connect(settings.warehouse) as conn:
        scan_landing(conn, settings, now=NOW, pre_read=pre_read)
        days = {r[0] for r in conn.execute("SELECT day FROM usage_file_days").fetchall()}
        build_days(conn, settings, days, now=NOW)
    state = _warehouse_state(settings)
    state["curated"] = sorted(read_curated(settings), key=lambda r: r["event_id"])
    state["unusable"] = sorted(pre_read.unusable)
    return state


def test_a_read_step_run_again_rewrites_the_same_result(tmp_path: Path):
    settings = _settings(tmp_path / "again", workers=1)
    _land_mixed(settings)
    with connect(settings.warehouse) as conn:
        (share,) = file_reads.plan_reads(conn, settings, 1, now=NOW)
    first = file_reads.read_and_store(settings, share, RUN)
    files = sorted(_exchange_files(settings))
    assert file_reads.read_and_store(settings, share, RUN) == first  # as after a redelivery
    assert sorted(_exchange_files(settings)) == files


def test_the_graph_fans_the_reads_out_in_steps(
    settings: Settings, dagster_instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
):
    end = date(2026, 3, 10)
    write_sample_landing(settings.usage_landing, days=3, events_per_day=200, seed=97, end=end)
    monkeypatch.setenv("CITY_USAGE_READ_STEPS", "2")
    # What a killed run's read step left: no run of that id is going, so it is deleted.
    leftover = Path(file_reads.exchange_location(settings).path("killed-run", "k",
                                                                stored_scan.SCAN_NAME))
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"x")
    result = materialize_days(settings, dagster_instance, date(2026, 3, 8), end)
    assert result.success
    steps = {e.step_key for e in result.all_events if e.step_key}
    assert steps == {"build_usage_events.plan_reads", "build_usage_events.read_files[0]",
                     "build_usage_events.read_files[1]", "build_usage_events.record_scans",
                     "build_usage_events.commit_and_build", *SUMMARY_STEPS}
    events = result.asset_materializations_for_node("build_usage_events")
    read_in_steps = {m.metadata["files_read_in_read_steps"].value for m in events
                     if m.asset_key == dg.AssetKey("usage_events")}
    landed = len(list(settings.usage_landing.rglob("*.parquet")))
    assert read_in_steps == {landed}
    assert {tuple(m.metadata["stored_reads_unusable"].value) for m in events
            if m.asset_key == dg.AssetKey("usage_events")} == {()}  # all taken as stored
    assert table(settings, "usage_files").height == landed
    # The killed run's leftover and this run's stored reads are gone; only this run's steps'
    # small outputs stay (for a delivery of its last step again), until a later run.
    left = _exchange_files(settings)
    assert left and {parts[:2] for parts in left} == {(result.run_id, file_reads.STEP_OUTPUTS)}


def test_read_steps_setting_is_read_and_checked(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CITY_USAGE_READ_STEPS", raising=False)
    assert Environment.load().settings().read_steps == 0  # embedded: the warehouse step reads
    monkeypatch.setenv("CITY_USAGE_READ_STEPS", "4")
    assert Environment.load().settings().read_steps == 4
    monkeypatch.setenv("CITY_USAGE_READ_STEPS", "-1")
    with pytest.raises(Exception, match="CITY_USAGE_READ_STEPS"):
        Environment.load()


def test_without_read_steps_the_warehouse_step_reads_every_file(
    settings: Settings, dagster_instance: dg.DagsterInstance
):
    end = date(2026, 3, 10)
    write_sample_landing(settings.usage_landing, days=3, events_per_day=200, seed=97, end=end)
    result = materialize_days(settings, dagster_instance, date(2026, 3, 8), end)
    assert result.success
    steps = {e.step_key for e in result.all_events if e.step_key}
    assert steps == {"build_usage_events.plan_reads", "build_usage_events.record_scans",
                     "build_usage_events.commit_and_build", *SUMMARY_STEPS}
    events = result.asset_materializations_for_node("build_usage_events")
    usage = [m for m in events if m.asset_key == dg.AssetKey("usage_events")]
    assert usage and {m.metadata["files_read_in_read_steps"].value for m in usage} == {0}
    assert usage[0].metadata["scan_new_files"].value == len(
        list(settings.usage_landing.rglob("*.parquet"))) > 0
    # no read result went through the exchange location: only the steps' small outputs
    assert {parts[:2] for parts in _exchange_files(settings)} == {
        (result.run_id, file_reads.STEP_OUTPUTS)}
