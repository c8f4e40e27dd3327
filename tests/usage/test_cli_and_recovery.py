"""The `city-usage` command as a user runs it: one-line failures with the right exit codes,
problem files reported, a killed materialization that recovers, and a backfill launched as
several concurrent runs that queue on the DuckDB pool instead of failing on its lock."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from tests.cli_process import run_cli, start_cli
from tests.dagster_runs import table
from usage_model.config import Settings
from usage_model.usage.sample import write_sample_landing

END = date(2026, 5, 20)
SUMMARIES = ("usage_daily_by_model", "usage_daily_by_city", "usage_daily_by_user",
             "usage_monthly_by_model", "usage_quarantine")


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("materialize", "--from", "2026-13-01"), "--from"),
        (("materialize", "--from", "2026-05-02", "--to", "2026-05-01"), "after"),
        (("materialize", "--frm", "2026-05-01"), "--frm"),
        (("materialize", "--select", "nosuch_asset+"), "select"),
        (("no-such-command",), "no-such-command"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(settings, dagster_instance, args, needle):
    done = run_cli(*args)
    assert done.returncode == 2, done.stderr
    assert needle in _one_line(done.stderr)


def test_runtime_failure_is_one_line_and_exit_1(settings, dagster_instance, monkeypatch, tmp_path):
    write_sample_landing(settings.usage_landing, days=1, events_per_day=50, end=END)
    blocker = tmp_path / "not-a-db"
    blocker.mkdir()  # the warehouse path is a directory: DuckDB cannot open it
    done = run_cli("materialize", env={"CITY_USAGE_WAREHOUSE": str(blocker)})
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert line.startswith("error: step ") and " failed: " in line
    assert str(blocker) in line


def test_materialize_reports_each_problem_file(settings, dagster_instance):
    write_sample_landing(settings.usage_landing, days=3, events_per_day=100, end=END)
    done = run_cli("materialize")
    assert done.returncode == 0, done.stderr
    problems = [ln for ln in done.stderr.splitlines() if ln.startswith("problem file:")]
    assert len(problems) == 1
    assert "broken.parquet: unreadable_file:" in problems[0]
    assert "materializations" in done.stderr
    runs = dagster_instance.get_runs()
    assert all(run.is_success for run in runs)
    # the three days as one single-run backfill, and the month's rollups
    ranged = [r.tags.get("dagster/asset_partition_range_start") for r in runs]
    assert ranged.count("2026-05-18") == 1
    assert [r.tags.get("dagster/partition") for r in runs].count("2026-05-01") == 1
    report = run_cli("report")
    assert report.returncode == 0, report.stderr
    for title in ("Top cities by calls", "Top users by calls", "Latency p50 / p95 per model",
                  "Topups by reconciliation verdict", "Quarantined rows and files by reason"):
        assert title in report.stdout
    assert "unreadable_file" in report.stdout and "missing_city_id" in report.stdout


def _snapshot(settings: Settings) -> dict[str, pl.DataFrame]:
    return {
        name: table(settings, name).drop("quarantined_at", "built_at", strict=False)
        for name in SUMMARIES
    }


def test_backfill_as_concurrent_runs_queues_on_the_pool(settings, dagster_instance):
    days = 30
    start = END - timedelta(days=days - 1)
    write_sample_landing(settings.usage_landing, days=days, events_per_day=200, end=END)
    processes = []
    for chunk in range(5):  # five runs of six days each, launched at once
        first = start + timedelta(days=6 * chunk)
        last = first + timedelta(days=5)
        processes.append(start_cli(
            "materialize", "--from", first.isoformat(), "--to", last.isoformat(),
            "--select", "group:usage",
        ))
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-1500:]
        assert "lock" not in stderr.lower()
    loads = table(settings, "usage_day_loads")
    assert loads.height == days
    assert (loads["accepted"] == 200).all()
    by_model = table(settings, "usage_daily_by_model")
    assert by_model.group_by("day").agg(pl.col("calls").sum())["calls"].to_list() == [200] * days
    blocked = [
        e for run in dagster_instance.get_runs()
        for e in dagster_instance.all_logs(run.run_id)
        if e.dagster_event and "pool duckdb_warehouse" in (e.dagster_event.message or "")
    ]
    assert blocked, "no run ever waited on the duckdb_warehouse pool"
