"""The same situation gets the same answer from every command (real `city-usage` processes)."""

from __future__ import annotations

import io
from datetime import date

import dagster as dg
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.cli_process import ROOT, run_cli
from usage_model.read.render import print_table
from usage_model.usage.sample import write_sample_landing

BUILD_COMMANDS = ("materialize",)
READ_RANGE_COMMANDS = ("report", "summary", "me", "events")
READ_COMMANDS = (("summary",), ("summary", "--by", "model"), ("events",),
                 ("me", "--city", "c1", "--user", "u1"), ("report",), ("status",))


def _invoke(*args: str):
    """In-process (fast): the same app and the same one-line failures as the real command."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_materialize_help_states_whole_days_both_included():
    text = " ".join(_invoke("materialize", "--help").stdout.split())
    assert "--from and --to are days in CITY_USAGE_TIMEZONE, both included" in text
    assert "last day, included" in text


@pytest.mark.parametrize("command", READ_RANGE_COMMANDS)
def test_every_read_command_states_the_half_open_range_in_its_help(command):
    done = _invoke(command, "--help")
    assert done.exit_code == 0
    text = " ".join(done.stdout.split())
    assert "The range is half-open, [--from, --to)" in text
    assert "left out" in text and "both included" not in text


def test_only_events_takes_instants():
    events = " ".join(_invoke("events", "--help").stdout.split())
    summary = " ".join(_invoke("summary", "--help").stdout.split())
    assert "--from and --to also take ISO-8601 instants" in events
    assert "instant" not in summary


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_no_warehouse_is_exit_1_and_one_line_for_every_read_command(settings, command):
    done = _invoke(*command)
    assert done.exit_code == 1, done.stdout
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: {settings.warehouse}: no warehouse yet")
    assert done.stdout == ""


@pytest.mark.parametrize("selection", ["group:no_such_group", "no_such_asset"])
def test_a_selection_matching_nothing_is_bad_input(settings, selection):
    done = run_cli("materialize", "--select", selection)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"--select '{selection}'" in done.stderr


def test_materialize_with_nothing_landed_says_so(settings, dagster_instance):
    done = run_cli("materialize", "--select", "group:usage")
    assert done.returncode == 0, done.stderr
    assert f"no usage landed under {settings.usage_landing}: no days to build" in done.stderr
    assert dagster_instance.get_runs() == []


def test_cli_runs_default_to_the_instance_next_to_the_data(settings, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    done = run_cli("materialize", "--select", "stripe_objects")
    assert done.returncode == 0, done.stderr
    home = settings.data_dir / "dagster"
    assert (home / "dagster.yaml").read_text() == (ROOT / "dagster.yaml").read_text()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
    assert runs and all(run.is_success for run in runs)


def test_cli_runs_have_a_job_name_and_say_what_started_them(settings, dagster_instance):
    write_sample_landing(settings.usage_landing, days=1, events_per_day=50,
                         end=date(2026, 5, 18))
    done = run_cli("materialize", "--select", "usage_events")
    assert done.returncode == 0, done.stderr
    runs = dagster_instance.get_runs()
    assert [run.job_name for run in runs] == ["cli_daily_assets"]
    assert runs[0].tags["city_usage/source"] == "cli"
    assert runs[0].tags["city_usage/command"] == "materialize"
    assert runs[0].tags["dagster/partition"] == "2026-05-18"


def test_a_terminal_gets_the_columns_that_fit_and_a_note_naming_the_rest():
    table = pa.table({"day": ["2026-11-20"], "model_id": ["claude-haiku-5"], "calls": [1234],
                      "input_tokens": [1_234_567], "cost_credits": [3_618_766],
                      "cached_input_tokens": [1], "reasoning_tokens": [3]})
    out = io.StringIO()
    print_table(table, out, color=False, terminal_width=90)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 90 for line in lines[:-1])
    assert "1,234,567" in out.getvalue()  # numbers keep their thousands separators
    assert "3,618,766 credits ($3.62)" in out.getvalue()  # credits with dollars beside
    assert lines[-1] == ("2 more columns not shown (cached_input_tokens, reasoning_tokens): "
                         "widen the terminal, or use --format csv or json")

