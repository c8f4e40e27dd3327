"""The Dagster UI's per-day figures are each day's own (not the run's totals on every day),
and match `city-usage summary` per day."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import dagster as dg

from tests.cli_process import run_cli
from tests.report.conftest import FIRST, LAST

END = LAST + timedelta(days=1)  # reads take [--from, --to)

DAYS = ["2026-05-16", "2026-05-17", "2026-05-18"]
ASSETS = ("usage_events", "usage_daily_by_model", "usage_daily_by_city",
          "usage_daily_by_user", "usage_daily_by_service")


def _partition_metadata(instance: dg.DagsterInstance, asset: str, day: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[day]), limit=1
    ).records
    assert records, f"{asset} has no materialization for {day}"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def _summary_per_day(measure: str) -> Counter:
    done = run_cli("summary", "--by", "model", "--granularity", "day", "--from",
                   FIRST.isoformat(), "--to", END.isoformat(), "--format", "json")
    assert done.returncode == 0, done.stderr
    per_day = Counter()
    for row in json.loads(done.stdout):
        per_day[row["day"]] += row[measure]
    return per_day


def test_each_day_carries_its_own_figures_matching_summary_by_day(report_build):
    settings, instance = report_build
    calls, errors = _summary_per_day("calls"), _summary_per_day("error_calls")
    tokens = _summary_per_day("input_tokens")
    assert sorted(calls) == DAYS and sum(calls.values()) > 0
    for day in DAYS:
        events = _partition_metadata(instance, "usage_events", day)
        assert events["dagster/row_count"] == events["calls"] == calls[day]
        assert events["error_calls"] == errors[day]
        assert events["input_tokens"] == tokens[day]
        assert events["error_rate"] == errors[day] / calls[day]
        for asset in ASSETS[1:]:
            daily = _partition_metadata(instance, asset, day)
            assert (daily["calls"], daily["error_calls"], daily["input_tokens"]) == (
                calls[day], errors[day], tokens[day]), asset


def test_row_count_counts_the_days_own_rows(report_build):
    settings, instance = report_build
    done = run_cli("summary", "--by", "city", "--granularity", "day", "--from",
                   FIRST.isoformat(), "--to", END.isoformat(), "--format", "json")
    cities_per_day = Counter(row["day"] for row in json.loads(done.stdout))
    for day in DAYS:
        by_city = _partition_metadata(instance, "usage_daily_by_city", day)
        assert by_city["dagster/row_count"] == cities_per_day[day]
