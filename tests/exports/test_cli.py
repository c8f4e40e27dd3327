"""`city-usage exports ...`: exit codes and one-line errors (docs/event-model.md rule 13)."""

from __future__ import annotations

import json
from datetime import date

from typer.testing import CliRunner

from pipelines.cli import app
from tests.exports.helpers import write_daily_by_user
from usage_model.config import Settings
from usage_model.exports.factory import make_sink
from usage_model.exports.runner import run_export
from usage_model.hooks.config import load_config
from usage_model.hooks.protocol import Period
from usage_model.warehouse import connect

runner = CliRunner()


def test_check_config_ok_absent_and_invalid(settings: Settings) -> None:
    absent = runner.invoke(app, ["exports", "check-config"])
    assert absent.exit_code == 0 and "absent" in absent.stdout
    settings.config_file.write_text("exports: {d: {sink: files, source: usage_daily_by_user}}\n")
    ok = runner.invoke(app, ["exports", "check-config"])
    assert ok.exit_code == 0 and "export d: usage_daily_by_user per day -> files" in ok.stdout
    settings.config_file.write_text("exports: {d: {sink: files, source: nope}}\n")
    bad = runner.invoke(app, ["exports", "check-config"])
    assert bad.exit_code == 2
    assert bad.stderr.strip().count("\n") == 0 and "exports.d.source" in bad.stderr


def test_status_reports_the_ledger(settings: Settings) -> None:
    assert runner.invoke(app, ["exports", "status"]).exit_code == 1  # no warehouse yet
    write_daily_by_user(settings, [(date(2026, 3, 5), "c1", "u1", 1, 1, 1)])
    settings.config_file.write_text("exports: {d: {sink: files, source: usage_daily_by_user}}\n")
    export = load_config(settings.config_file).exports["d"]
    with connect(settings.warehouse) as conn:
        run_export(conn, export, Period.from_key("day", "2026-03-05"),
                   make_sink(export, settings, conn).sink)
    result = runner.invoke(app, ["exports", "status", "--format", "json"])
    assert result.exit_code == 0
    [row] = json.loads(result.stdout)
    assert (row["export"], row["period"], row["latest_version"], row["delivered_rows"]) == (
        "d", "2026-03-05", 1, 1)
    assert runner.invoke(app, ["exports", "status", "--format", "xml"]).exit_code == 2
