"""The usage graph end to end through real Dagster execution, a real DuckDB file and real
Parquet files: summaries against an independent polars computation, idempotent rebuilds, the
landing sensor's late-data requests, and the definitions loading."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from assets.usage import definitions as usage_defs
from tests.dagster_runs import RANGE_END, RANGE_START, materialize_days, table
from tests.usage import reference
from usage_model.usage.ingest import day_path
from usage_model.usage.sample import write_sample_landing

END = date(2026, 3, 10)
START = END - timedelta(days=3)


@pytest.fixture
def landed(settings):
    # A seed and size no other test or the demo uses: the data is not tuned to the code.
    write_sample_landing(settings.usage_landing, days=4, events_per_day=700, seed=424242, end=END)
    return settings


def _compare(got: pl.DataFrame, expected: pl.DataFrame, keys: list[str]) -> None:
    got = got.select(expected.columns).sort(keys, nulls_last=True)
    expected = expected.sort(keys, nulls_last=True)
    assert_frame_equal(got, expected, check_dtypes=False, rel_tol=1e-9)


def test_summaries_equal_an_independent_computation(landed, dagster_instance):
    result = materialize_days(landed, dagster_instance, START, END)
    assert result.success
    events = reference.accepted_events(landed.usage_landing)
    assert events.height > 2500  # four days of ~700 calls, minus rejected rows
    _compare(table(landed, "usage_daily_by_model"), reference.daily_by_model(events),
             ["day", "model_id"])
    _compare(table(landed, "usage_daily_by_city"), reference.daily_by_city(events),
             ["day", "city_id"])
    _compare(table(landed, "usage_daily_by_user"), reference.daily_by_user(events),
             ["day", "city_id", "user_id"])
    checks = result.get_asset_check_evaluations()
    assert checks
    assert all(c.passed for c in checks if c.check_name != "quarantine_rate_below_threshold")


def test_every_landed_row_is_accounted_for(landed, dagster_instance):
    assert materialize_days(landed, dagster_instance, START, END).success
    rows_landed = sum(
        pq.read_metadata(p).num_rows
        for p in landed.usage_landing.rglob("*.parquet")
        if p.name != "broken.parquet"
    )
    loads = table(landed, "usage_day_loads")
    quarantine = table(landed, "usage_quarantine")
    accepted = loads["accepted"].sum()
    identical = loads["identical_duplicates"].sum()
    row_rejections = quarantine.filter(pl.col("source_row").is_not_null()).height
    assert rows_landed == accepted + identical + row_rejections
    events = pl.read_parquet([day_path(landed, START + timedelta(days=i)) for i in range(4)])
    assert events.height == accepted
    assert events["event_id"].n_unique() == events.height
    reasons = set(quarantine["reason"])
    assert {"missing_event_id", "missing_city_id", "bad_status", "negative_value",
            "duplicate_conflict", "unreadable_file"} <= reasons


def test_rematerializing_gives_identical_rows(landed, dagster_instance):
    assert materialize_days(landed, dagster_instance, START, END).success
    names = ("usage_daily_by_model", "usage_daily_by_city", "usage_daily_by_user",
             "usage_daily_by_service", "usage_day_loads")
    first = {n: table(landed, n).drop("built_at", strict=False) for n in names}
    first_events = pl.read_parquet(day_path(landed, START))
    assert materialize_days(landed, dagster_instance, START, END).success
    for name in names:
        assert_frame_equal(table(landed, name).drop("built_at", strict=False), first[name])
    assert_frame_equal(pl.read_parquet(day_path(landed, START)), first_events)
    quarantine = table(landed, "usage_quarantine")
    assert quarantine.select("source_file", "source_row", "reason").is_unique().all()


def _sensor_requests(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return usage_defs.usage_landing_sensor(context)


def _requested_days(result: dg.SensorResult) -> set[date]:
    days: set[date] = set()
    for request in result.run_requests:
        if request.job_name != usage_defs.usage_daily_job.name:
            continue
        if request.partition_key:
            days.add(date.fromisoformat(request.partition_key))
        else:
            start = date.fromisoformat(request.tags[RANGE_START])
            end = date.fromisoformat(request.tags[RANGE_END])
            days.update(start + timedelta(days=i) for i in range((end - start).days + 1))
    return days


def test_late_file_rebuilds_exactly_the_days_it_touches(landed, dagster_instance):
    first = _sensor_requests(dagster_instance, None)
    assert _requested_days(first) == {START + timedelta(days=i) for i in range(4)}
    assert materialize_days(landed, dagster_instance, START, END).success
    untouched = START + timedelta(days=1)
    mtime_before = day_path(landed, untouched).stat().st_mtime_ns
    by_city = table(landed, "usage_daily_by_city")
    calls_before = by_city.filter(pl.col("day") == START)["calls"].sum()

    late_days = [START, START + timedelta(days=2)]
    late = pa.table({
        "event_id": [f"late-{i}" for i in range(6)],
        "occurred_at": pa.array(
            [f"{d.isoformat()}T12:0{i}:00Z" for d in late_days for i in range(3)]
        ),
        "city_id": ["city-late"] * 6,
        "status": ["success"] * 6,
        "input_tokens": [10] * 6,
    })
    (landed.usage_landing / "late").mkdir()
    pq.write_table(late, landed.usage_landing / "late" / "batch-1.parquet")

    second = _sensor_requests(dagster_instance, first.cursor)
    assert _requested_days(second) == set(late_days)
    assert all(r.run_key for r in second.run_requests)
    assert _sensor_requests(dagster_instance, second.cursor).run_requests == []
    for day in late_days:
        assert materialize_days(landed, dagster_instance, day, day).success
    assert day_path(landed, untouched).stat().st_mtime_ns == mtime_before
    by_city = table(landed, "usage_daily_by_city")
    assert by_city.filter(pl.col("day") == START)["calls"].sum() == calls_before + 3
    assert by_city.filter(pl.col("city_id") == "city-late")["calls"].to_list() == [3, 3]


def test_definitions_validate():
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "pipelines.definitions"],
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            assert node.group_name and node.owners and node.description, key
            assert node.kinds, key
    assert {s.name for s in defs.sensors} >= {"usage_landing_sensor"}
    assert {s.name for s in defs.schedules} >= {"usage_daily_schedule"}
