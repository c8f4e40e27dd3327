"""The usage_report asset (file + headline metadata in the Dagster instance) and `status`."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb

from assets.report.assets import REPORT_INPUTS, build_usage_report
from assets.usage import definitions as usage_defs
from tests.cli_process import run_cli
from tests.dagster_runs import materialize_days, resources
from tests.report.conftest import FIRST, LAST
from usage_model.usage import layout


def _accepted_events(settings) -> int:
    files = [path for _, path in layout.day_files(settings.events_location())]
    with duckdb.connect() as conn:
        return conn.execute("SELECT count(*) FROM read_parquet($files)", {"files": files}
                            ).fetchone()[0]


def test_usage_report_asset_links_the_file_and_shows_the_headline(report_warehouse):
    report = build_usage_report(REPORT_INPUTS)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([report], instance=instance,
                                resources=resources(report_warehouse))
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey("usage_report"))
    metadata = event.asset_materialization.metadata
    path = metadata["path"].value
    assert path == str(report_warehouse.report_path)
    assert "City usage report · 2026-05-16 – 2026-05-18 (UTC)" in Path(path).read_text()
    calls = _accepted_events(report_warehouse)
    assert metadata["calls"].value == calls
    assert f"| calls | {calls:,} |" in metadata["headline"].value
    assert metadata["url"].value == report_warehouse.report_path.as_uri()


def test_status_says_what_was_built_and_where(report_warehouse):
    done = run_cli("status")
    assert done.returncode == 0, done.stderr
    events = _accepted_events(report_warehouse)
    built = done.stdout.splitlines()[0]
    assert built.startswith(f"built:       3 days ({FIRST} – {LAST}), {events:,} events")
    quarantined = done.stdout.splitlines()[1]
    assert re.match(r"quarantined: [\d,]+ rows and 1 file: ", quarantined)
    assert "unreadable_file 1 (whole file)" in quarantined
    assert f"warehouse:   {report_warehouse.warehouse}" in done.stdout
    assert "make ui" in done.stdout
    # the suggested report covers every built day: reads take [--from, --to)
    assert f"report --html report.html --from {FIRST} --to {LAST + timedelta(days=1)}" in \
        done.stdout


def test_status_without_a_warehouse_fails_in_one_line(settings):
    done = run_cli("status")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "no warehouse yet" in done.stderr


def test_the_report_is_refreshed_after_its_inputs_change(report_build):
    settings, instance = report_build
    report = build_usage_report(REPORT_INPUTS)
    graph = dg.Definitions(assets=[usage_defs.usage_events, usage_defs.daily_summaries, report],
                           resources=resources(settings))

    def requested(cursor=None):
        result = dg.evaluate_automation_conditions(defs=graph, instance=instance, cursor=cursor)
        return result.total_requested, result.cursor

    count, cursor = requested()
    assert count == 0  # a daemon's first tick (after make demo, say) rebuilds nothing
    assert materialize_days(settings, instance, LAST, LAST).success
    count, cursor = requested(cursor)
    assert count == 1  # a day of its inputs was rebuilt: the report follows
    assert dg.materialize([report], instance=instance, resources=resources(settings)).success
    count, cursor = requested(cursor)
    assert count == 0  # built since: nothing to do
