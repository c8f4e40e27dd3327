"""`city-usage summary | events | me`: formats, --explain, exit codes, one-line failures,
and a real lock held by another process."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from usage_model import read

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(history) -> dict[str, str]:
    return {"CITY_USAGE_DATA_DIR": str(history.data_dir), "CITY_USAGE_TIMEZONE": "UTC",
            "CITY_USAGE_WAREHOUSE": str(history.warehouse),
            "CITY_USAGE_CURATED": str(history.curated)}


def cli(env, *args):
    return CliRunner().invoke(app, list(args), env=env)


def test_json_is_an_array_keyed_by_column_names(env, history):
    r = cli(env, "summary", "--by", "model", "--from", "2026-02-01", "--to", "2026-03-01",
            "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    expected = read.summary(("model_id",), start="2026-02-01", end="2026-03-01",
                            settings=history).to_pylist()
    assert rows == expected
    assert list(rows[0])[:2] == ["model_id", "calls"]
    assert any(row["model_id"] is None for row in rows)


def test_day_json_has_iso_dates_and_csv_matches(env):
    args = ["summary", "--by", "city,user", "--from", "2026-02-01", "--to", "2026-02-03",
            "--granularity", "day"]
    as_json = json.loads(cli(env, *args, "--format", "json").stdout)
    as_csv = list(csv.DictReader(io.StringIO(cli(env, *args, "--format", "csv").stdout)))
    assert as_json[0]["day"] == "2026-02-01"
    assert [r["day"] for r in as_csv] == [r["day"] for r in as_json]
    assert [int(r["calls"]) for r in as_csv] == [r["calls"] for r in as_json]
    assert {r["user_id"] for r in as_csv} >= {""}  # anonymous calls: null user, empty field


def test_table_is_aligned_and_readable(env, tmp_path):
    out = tmp_path / "t.txt"
    r = cli(env, "summary", "--from", "2026-02-01", "--to", "2026-03-01", "--out", str(out))
    assert r.exit_code == 0
    lines = out.read_text().splitlines()
    header = next(line for line in lines if "city_id" in line)
    assert all(h in header for h in ("city_id", "service", "status", "calls"))
    body = [line for line in lines if line.startswith("│")]
    assert len(body) == 18 and len({len(line) for line in body}) == 1  # 3 x 3 x 2, aligned
    assert "∅" in out.read_text()  # the null service group


def test_parquet_out_and_explain(env, tmp_path, history):
    out = tmp_path / "s.parquet"
    r = cli(env, "summary", "--by", "model", "--from", "2026-02-01", "--to", "2026-03-01",
            "--format", "parquet", "--out", str(out), "--explain")
    assert r.exit_code == 0
    assert "source: usage_monthly_by_model" in r.stderr and "why:" in r.stderr
    assert pq.read_table(out).equals(read.summary(("model",), start="2026-02-01",
                                                  end="2026-03-01", settings=history))
    r = cli(env, "summary", "--by", "city", "--model", "m1", "--explain", "--format", "json")
    assert r.stderr.startswith("source: events") and json.loads(r.stdout)


def test_events_pages_with_after(env):
    r = cli(env, "events", "--limit", "3", "--format", "json")
    first = json.loads(r.stdout)
    cursor = r.stderr.strip().removeprefix("next page: --after ")
    second = json.loads(cli(env, "events", "--limit", "3", "--after", cursor, "--format",
                            "json").stdout)
    both = json.loads(cli(env, "events", "--limit", "6", "--format", "json").stdout)
    assert first + second == both
    assert first[0]["occurred_at"].endswith("+00:00")


def test_me(env):
    r = cli(env, "me", "--city", "c1", "--user", "u2", "--from", "2026-02-01", "--to",
            "2026-02-08", "--format", "json")
    rows = json.loads(r.stdout)
    assert rows and {(x["city_id"], x["user_id"]) for x in rows} == {("c1", "u2")}
    assert [x["day"] for x in rows] == sorted({x["day"] for x in rows})
    r = cli(env, "me", "--city", "c1", "--user", "x' OR 1=1 --", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout) == []


@pytest.mark.parametrize(("args", "message"), [
    (["summary", "--by", "model,planet"],
     "error: unknown --by dimension 'planet'; valid: city, model, provider, service, status, user"),
    (["summary", "--from", "2026-13-01"], "error: bad --from '2026-13-01': expected a date"),
    (["summary", "--from", "2026-02-01T10:00:00Z"], "expected a date YYYY-MM-DD"),
    (["summary", "--granularity", "hour"], "valid: day, week, month, total"),
    (["summary", "--format", "xml"], "unknown --format 'xml'; valid: table, json, csv, parquet"),
    (["summary", "--format", "parquet"], "--format parquet needs --out FILE"),
    (["events", "--after", "garbage"], "bad cursor"),
    (["events", "--to", "tomorrow"], "bad --to 'tomorrow'"),
    (["me", "--city", "", "--user", "u1"], "me needs --city"),
])
def test_bad_input_is_one_line_exit_2(env, args, message):
    r = cli(env, *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr and r.stderr.count("\n") == 1 and r.stdout == ""


def test_missing_warehouse_is_one_line_exit_1(tmp_path):
    r = cli({"CITY_USAGE_DATA_DIR": str(tmp_path / "none")}, "summary")
    assert r.exit_code == 1
    assert "no warehouse yet" in r.stderr and r.stderr.count("\n") == 1


HOLD_WRITER = textwrap.dedent("""
    import sys, time, duckdb
    conn = duckdb.connect(sys.argv[1])
    conn.execute("CREATE TABLE IF NOT EXISTS held (x INT)")
    print("ready", flush=True)
    sys.stdin.readline()
""")


def run_cli(env, *args):
    return subprocess.run([sys.executable, "-c", "from pipelines.cli import app; app()", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, **env})


def test_locked_warehouse_is_one_line_exit_1_and_events_still_answer(env, history):
    writer = subprocess.Popen([sys.executable, "-c", HOLD_WRITER, str(history.warehouse)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        r = run_cli(env, "summary")  # the overview: from usage_daily_by_service
        assert r.returncode == 1
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert "locked by another process" in r.stderr
        # an answer that must come from events does not need the warehouse at all
        r = run_cli(env, "summary", "--by", "city", "--model", "m1", "--format", "json")
        assert r.returncode == 0 and json.loads(r.stdout)
    finally:
        writer.stdin.write("\n")
        writer.stdin.close()
        writer.wait(timeout=30)
    assert writer.returncode == 0


def test_reader_does_not_hold_the_lock_between_reads(history, tmp_path):
    read.summary(("model",), settings=history)
    # another process can take the write lock right after a read in this process
    done = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1])"
                           ".execute('CHECKPOINT')", str(history.warehouse)], timeout=60)
    assert done.returncode == 0
    assert read.summary(("model",), settings=history).num_rows > 0


def test_ids_are_printed_as_they_are(tmp_path):
    from tests.read.conftest import make_settings
    from tests.read.fixture import at, build_summaries, write_curated

    settings = make_settings(tmp_path)
    write_curated(settings, [dict(event_id="m", occurred_at=at("2026-02-01 10:00"),
                                  city_id="[red]c1[/red]", user_id="u,\"1\"", service="chat",
                                  status="success")])
    build_summaries(settings)
    env = {"CITY_USAGE_DATA_DIR": str(settings.data_dir)}
    r = cli(env, "summary", "--by", "city,user")
    assert r.exit_code == 0 and "[red]c1[/red]" in r.stdout
    rows = list(csv.DictReader(io.StringIO(cli(env, "summary", "--by", "city,user",
                                               "--format", "csv").stdout)))
    assert (rows[0]["city_id"], rows[0]["user_id"]) == ("[red]c1[/red]", 'u,"1"')


def test_to_is_left_out_for_days_and_instants(env, history):
    # [--from, --to): one day is --from D --to D+1
    r = cli(env, "summary", "--by", "model", "--from", "2026-02-03", "--to", "2026-02-04",
            "--granularity", "day", "--format", "json")
    rows = json.loads(r.stdout)
    assert {row["day"] for row in rows} == {"2026-02-03"}
    expected = read.summary(("model",), start="2026-02-03", end="2026-02-04",
                            granularity="day", settings=history).to_pylist()
    assert rows == [{**row, "day": row["day"].isoformat()} for row in expected]
    day = json.loads(cli(env, "events", "--from", "2026-02-03", "--to", "2026-02-04",
                         "--limit", "100000", "--format", "json").stdout)
    assert day and {e["occurred_at"][:10] for e in day} == {"2026-02-03"}
    assert len(day) == sum(row["calls"] for row in rows)
    # an instant given to --to is left out too
    noon = json.loads(cli(env, "events", "--from", "2026-02-03", "--to",
                          "2026-02-03T12:00:00Z", "--limit", "100000", "--format", "json").stdout)
    assert noon == [e for e in day if e["occurred_at"] < "2026-02-03T12:00:00"]
    # an empty range is bad input, not an empty answer
    empty = cli(env, "summary", "--from", "2026-02-03", "--to", "2026-02-03")
    assert empty.exit_code == 2
