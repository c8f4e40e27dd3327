"""`events` streams: batches of bounded size, the same bytes as one whole table, any --limit;
the aligned table refuses pages it would have to hold whole."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.read.conftest import make_settings
from usage_model import read
from usage_model.read.engine import engine
from usage_model.read.render import to_csv, to_json, write_batches
from usage_model.read.stream import MEMORY_LIMIT

CLI = str(Path(sys.executable).parent / "city-usage")


@pytest.fixture
def env(history) -> dict[str, str]:
    return {**os.environ, "CITY_USAGE_DATA_DIR": str(history.data_dir),
            "CITY_USAGE_TIMEZONE": "UTC", "CITY_USAGE_CURATED": str(history.curated)}


def test_small_batches_give_the_same_rows_and_cursor_as_one_page(history, sample_rows_list):
    limit = len(sample_rows_list) - 30  # a page that ends inside the data: a cursor follows
    stream = read.stream_events(settings=history, limit=limit, batch_rows=64)
    batches = list(stream)
    assert len(batches) > limit // 64 and max(b.num_rows for b in batches) <= 64
    page = read.events(settings=history, limit=limit)
    assert pa.Table.from_batches(batches).equals(page.replace_schema_metadata(None))
    assert stream.next_cursor == read.next_cursor(page) is not None
    rest = read.events(settings=history, limit=1000, after=stream.next_cursor)
    assert rest.num_rows == 30 and read.next_cursor(rest) is None


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_text_written_batch_by_batch_is_byte_identical_to_the_whole_table(history, tmp_path,
                                                                          fmt):
    whole = read.events(settings=history, limit=1_000_000, city_id="c1")
    expected = (to_json if fmt == "json" else to_csv)(whole)
    out = tmp_path / f"events.{fmt}"
    stream = read.stream_events(settings=history, limit=1_000_000, city_id="c1", batch_rows=7)
    write_batches(stream, stream.schema, fmt, out)
    assert out.read_text(encoding="utf-8") == expected
    assert whole.num_rows > 7 * 3 and stream.next_cursor is None


def test_empty_stream_writes_an_empty_json_array_and_a_csv_header(tmp_path):
    settings = make_settings(tmp_path)  # no curated days at all
    for fmt, text in (("json", "[]\n"), ("csv", None)):
        stream = read.stream_events(settings=settings, limit=5)
        out = tmp_path / f"empty.{fmt}"
        write_batches(stream, stream.schema, fmt, out)
        lines = out.read_text().splitlines(keepends=True)
        assert lines == ([text] if text else [",".join(stream.schema.names) + "\n"])


def test_parquet_written_batch_by_batch_reads_back_as_the_page(history, tmp_path):
    out = tmp_path / "events.parquet"
    stream = read.stream_events(settings=history, limit=500, batch_rows=100)
    write_batches(stream, stream.schema, "parquet", out)
    meta = pq.ParquetFile(out).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(sizes) == 500 and len(sizes) >= 5 and max(sizes) <= 100
    assert pq.read_table(out).equals(read.events(settings=history, limit=500)
                                     .replace_schema_metadata(None))


def _memory_limit() -> str:
    with engine() as conn:  # the engine's lock is re-entrant: callable inside a stream's loop
        return conn.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_duckdb_memory_is_capped_while_streaming_and_restored_after(history):
    with duckdb.connect() as other:  # how DuckDB itself reports the cap
        other.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        capped = other.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    before = _memory_limit()
    during = {_memory_limit() for _batch in read.stream_events(settings=history, limit=50,
                                                                batch_rows=10)}
    assert during == {capped} != {before}
    assert _memory_limit() == before


def test_any_limit_streams_through_the_cli(env, sample_rows_list, tmp_path):
    r = CliRunner().invoke(app, ["events", "--limit", "100000000", "--format", "json"], env=env)
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)) == len(sample_rows_list) and r.stderr == ""
    out = tmp_path / "all.csv"
    r = CliRunner().invoke(app, ["events", "--limit", "100000000", "--format", "csv", "--out",
                                 str(out)], env=env)
    assert r.exit_code == 0 and len(out.read_text().splitlines()) == len(sample_rows_list) + 1
    r = CliRunner().invoke(app, ["events", "--limit", "10000", "--city", "c1"], env=env)
    assert r.exit_code == 0 and "c1" in r.stdout  # the table format up to its threshold


def test_table_format_refuses_a_large_limit_with_one_line(env):
    r = subprocess.run([CLI, "events", "--limit", "10001"], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: --format table shows at "
                                                              "most 10,000 rows")
    assert "json, csv or parquet" in r.stderr


def test_a_stream_left_early_frees_the_engine_and_restores_its_limit(history):
    before = _memory_limit()
    batches = iter(read.stream_events(settings=history, limit=1000, batch_rows=10))
    assert next(batches).num_rows == 10
    batches.close()  # what happens when a consumer stops (a closed pipe, an exception)
    assert _memory_limit() == before
    assert read.events(settings=history, limit=3).num_rows == 3


def test_output_piped_into_a_reader_that_stops_early_ends_quietly(env):
    proc = subprocess.Popen([CLI, "events", "--limit", "100000000", "--format", "csv"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    header = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`: far more rows than one pipe buffer are unread
    assert proc.wait(timeout=120) == 0
    assert header.startswith(b"event_id,occurred_at,") and proc.stderr.read() == b""
    proc.stderr.close()


def test_dates_and_instants_render_as_python_isoformat():
    utc = datetime(2026, 3, 1, 4, 5, 6, tzinfo=UTC)
    paris = ZoneInfo("Europe/Paris")
    instants = [utc, utc.replace(microsecond=7), utc.replace(year=999), None]
    recent = [v if v is not None and v.year > 1700 else None for v in instants]  # ns range
    days = [date(2026, 3, 1), date(999, 12, 31), None, date(2024, 2, 29)]
    table = pa.table({
        "day": pa.array(days, pa.date32()),
        "at": pa.array(instants, pa.timestamp("us", tz="UTC")),
        "local": pa.array(instants, pa.timestamp("us", tz="Europe/Paris")),
        "nanos": pa.array(recent, pa.timestamp("ns", tz="UTC")),
    })

    def iso(v):
        return None if v is None else v.isoformat()

    expected = [{"day": iso(d), "at": iso(a), "local": iso(a and a.astimezone(paris)),
                 "nanos": iso(n)} for d, a, n in zip(days, instants, recent, strict=True)]
    assert json.loads(to_json(table)) == expected
    assert [r["at"] for r in csv.DictReader(io.StringIO(to_csv(table)))] == \
        [iso(a) or "" for a in instants]
