"""A late file whose copy of an event_id sorts first moves the winner out of another day:
that other day is rebuilt too (the scan records it as a durable intent that the same run
honours, and usage_rebuild_sensor requests it when a run failed before building it), so each
event_id ends up exactly once across all curated days."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from assets.usage import definitions as usage_defs
from assets.usage.sensors import RANGE_END, RANGE_START
from tests.cli_process import run_cli
from tests.dagster_runs import table
from usage_model.usage.ingest import day_path, scan_landing
from usage_model.warehouse import connect

D1, D2 = date(2026, 4, 7), date(2026, 4, 8)


def _land(settings, relative: str, rows: list[tuple[str, str]]) -> None:
    path = settings.usage_landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "event_id": [r[0] for r in rows],
        "occurred_at": [r[1] for r in rows],
        "city_id": ["c1"] * len(rows),
        "status": ["success"] * len(rows),
    }), path)


def _curated_ids(settings) -> list[str]:
    ids: list[str] = []
    for day in (D1, D2):
        if day_path(settings, day).exists():
            ids += pl.read_parquet(day_path(settings, day))["event_id"].to_list()
    return sorted(ids)


def test_late_first_sorting_copy_rebuilds_the_old_winners_day(settings, dagster_instance):
    _land(settings, "b/batch.parquet", [("x", f"{D2}T10:00:00Z"), ("y", f"{D1}T09:00:00Z")])
    # usage_quarantine is built by the same step: selecting usage_events alone runs both.
    first = run_cli("materialize", "--select", "usage_events")
    assert first.returncode == 0, first.stderr
    assert "usage_events, usage_quarantine" in first.stderr
    assert _curated_ids(settings) == ["x", "y"]

    _land(settings, "a/late.parquet", [("x", f"{D1}T08:00:00Z")])  # sorts before b/
    done = run_cli("materialize", "--from", D1.isoformat(), "--to", D1.isoformat(),
                   "--select", "usage_events")
    assert done.returncode == 0, done.stderr
    assert _curated_ids(settings) == ["x", "y"]  # x once, now from a/late.parquet on D1
    d1 = pl.read_parquet(day_path(settings, D1))
    assert d1.filter(pl.col("event_id") == "x")["source_file"].to_list() == ["a/late.parquet"]
    conflicts = table(settings, "usage_quarantine").filter(
        pl.col("reason") == "duplicate_conflict")
    assert conflicts.select("source_file", "event_id").rows() == [("b/batch.parquet", "x")]

    first_run = next(
        r for r in dagster_instance.get_runs()
        if r.tags.get("dagster/partition") == D1.isoformat()
    )
    events = next(
        r.asset_materialization for r in dagster_instance.get_records_for_run(
            first_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        if r.asset_materialization.asset_key == dg.AssetKey("usage_events")
    )
    assert events.metadata["pending_days_built"].value == [D2.isoformat()]
    # the summaries were not selected: they are owed for both days, the events are not
    pending = _pending_intents(settings)
    assert ("usage_daily_by_city", D2.isoformat()) in pending
    assert [p for p in pending if p[0] == "usage_events"] == []


def _pending_intents(settings) -> list[tuple[str, str]]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT target, day::VARCHAR FROM usage_rebuild_intents ORDER BY ALL"
        ).fetchall()
    return [tuple(r) for r in rows]


def _rebuild_sensor(instance: dg.DagsterInstance) -> dg.SensorResult:
    return usage_defs.usage_rebuild_sensor(dg.build_sensor_context(instance=instance))


def test_rebuild_sensor_requests_what_a_killed_run_left(settings, dagster_instance):
    _land(settings, "b/batch.parquet", [("x", f"{D2}T10:00:00Z")])
    assert run_cli("materialize").returncode == 0
    assert _rebuild_sensor(dagster_instance).run_requests == []
    _land(settings, "a/late.parquet", [("x", f"{D1}T08:00:00Z")])
    with connect(settings.warehouse) as conn:  # a run killed right after its scan committed
        scan_landing(conn, settings)
    assert _pending_intents(settings) == [
        ("usage_events", D1.isoformat()), ("usage_events", D2.isoformat())]

    first = _rebuild_sensor(dagster_instance)
    assert [(r.job_name, r.tags.get(RANGE_START), r.tags.get(RANGE_END))
            for r in first.run_requests] == [
        (usage_defs.usage_daily_job.name, D1.isoformat(), D2.isoformat())]
    # the same pending set is requested once (its run key names it)
    assert _rebuild_sensor(dagster_instance).run_requests[0].run_key == first.run_requests[
        0].run_key

    # any later run honours the intents, whatever its range
    later = run_cli("materialize", "--from", "2026-04-01", "--to", "2026-04-01")
    assert later.returncode == 0, later.stderr
    assert _curated_ids(settings) == ["x"]
    d1 = pl.read_parquet(day_path(settings, D1))
    assert d1["source_file"].to_list() == ["a/late.parquet"]
    assert not day_path(settings, D2).exists()
    assert _pending_intents(settings) == []
    by_city = table(settings, "usage_daily_by_city")
    assert by_city.select("day", "calls").rows() == [(D1, 1)]
    assert _rebuild_sensor(dagster_instance).run_requests == []
