"""Output for people and pipes: a pipe gets every column, one line a row, never wrapped."""

from __future__ import annotations

import json

from tests.cli_process import run_cli


def test_a_pipe_gets_every_column_one_line_a_row(report_warehouse):
    done = run_cli("summary", "--by", "model")
    assert done.returncode == 0, done.stderr
    models = json.loads(run_cli("summary", "--by", "model", "--format", "json").stdout)
    lines = done.stdout.splitlines()
    rows = [line for line in lines if line.startswith("│")]
    header = next(line for line in lines if "model_id" in line)
    assert "distinct_cities" in header and "not shown" not in done.stdout
    assert len(rows) == len(models) and len({len(line) for line in rows}) == 1
    assert all(f"{m['input_tokens']:,}" in done.stdout for m in models)
