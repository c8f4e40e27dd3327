"""A late file whose copy of an event_id sorts first moves the winner out of another day:
that other day is rebuilt too (by the CLI at once, and by usage_rebuild_sensor in production),
so each event_id ends up exactly once across all curated days."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import usage_defs
from pipelines.sensors import RANGE_START, days_needing_rebuild
from tests.usage.cli_helpers import run_cli
from tests.usage.pipeline_helpers import table
from usage_model.usage.ingest import day_path

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
                   "--select", "group:usage")
    assert done.returncode == 0, done.stderr
    assert "winners moved" in done.stderr
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
    assert days_needing_rebuild(dagster_instance, first_run.run_id) == {D2}


def test_rebuild_sensor_requests_the_days_a_run_reported(settings, dagster_instance):
    _land(settings, "b/batch.parquet", [("x", f"{D2}T10:00:00Z")])
    assert run_cli("materialize", "--select", "group:usage").returncode == 0
    _land(settings, "a/late.parquet", [("x", f"{D1}T08:00:00Z")])
    assert run_cli("materialize", "--from", D1.isoformat(), "--to", D1.isoformat(),
                   "--select", "group:usage").returncode == 0
    run = next(r for r in dagster_instance.get_runs()
               if r.tags.get("dagster/partition") == D1.isoformat())
    success = dagster_instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS).records[0]
    context = dg.build_run_status_sensor_context(
        sensor_name="usage_rebuild_sensor",
        dagster_event=success.event_log_entry.dagster_event,
        dagster_instance=dagster_instance,
        dagster_run=run,
    )
    requests = list(usage_defs.usage_rebuild_sensor(context) or [])
    assert [(r.partition_key, r.tags.get(RANGE_START)) for r in requests] == [
        (D2.isoformat(), None)]
    assert requests[0].run_key.startswith(f"rebuild:{run.run_id}")
