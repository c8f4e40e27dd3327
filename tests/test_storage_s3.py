"""Storage and the curated layout on a real S3 server (moto, 127.0.0.1): atomic writes (an
object is absent or complete, also when the writer fails or is killed in the middle of the
upload), publishing a local file, creating a file once among racing writers (a conditional
PUT), and listing, reading and removing curated day files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from tests.s3_server import S3Server, s3_fixture  # noqa: F401 - provides `s3`
from usage_model.storage import location
from usage_model.usage import layout
from usage_model.usage.event_model import CURATED_SCHEMA

V1, V2 = b"complete first version", b"the second version, never finished"


def _objects(where) -> dict[str, bytes]:
    """Every object under the location, by path, with its bytes (listed with pyarrow)."""
    selector = pafs.FileSelector(where.root, recursive=True, allow_not_found=True)
    found = {}
    for info in where.fs.get_file_info(selector):
        if info.type == pafs.FileType.File:
            with where.fs.open_input_stream(info.path) as stream:
                found[info.path] = stream.read()
    return found


def _whole(data: bytes):
    def write(fs, path):
        with fs.open_output_stream(path) as out:
            out.write(data)
    return write


def _half_then(error: BaseException):
    def write(fs, path):
        with fs.open_output_stream(path) as out:  # closing on the way out completes an upload
            out.write(V2[: len(V2) // 2])
            raise error
    return write


def test_a_write_failing_mid_upload_leaves_the_old_object_and_nothing_else(s3: S3Server):
    where = s3.location(s3.new_bucket() + "/curated")
    target = where.path("events", "day=2026-01-01", "part-0.parquet")
    where.write_atomic(target, _whole(V1))
    assert _objects(where) == {target: V1}

    with pytest.raises(OSError, match="connection reset"):
        where.write_atomic(target, _half_then(OSError("connection reset")))
    assert _objects(where) == {target: V1}  # the old version, whole; no temporary left

    fresh = where.path("events", "day=2026-01-02", "part-0.parquet")
    with pytest.raises(KeyboardInterrupt):
        where.write_atomic(fresh, _half_then(KeyboardInterrupt()))
    assert _objects(where) == {target: V1}


def test_a_writer_killed_mid_upload_leaves_no_object(s3: S3Server, tmp_path):
    bucket = s3.new_bucket()
    # A separate process writes half an object through write_atomic and SIGKILLs itself
    # before the write returns: a crash of the step in the middle of the upload.
    script = textwrap.dedent(f"""
        import os, signal
        from usage_model.storage import location, s3_options_from_env
        where = location({bucket + '/curated'!r}, s3_options_from_env(os.environ))
        def write(fs, path):
            out = fs.open_output_stream(path)
            out.write(b"half of it")
            out.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        where.write_atomic(where.path("events", "day=2026-01-01", "part-0.parquet"), write)
    """)
    done = subprocess.run([sys.executable, "-c", script], env={**_base_env(), **s3.env},
                          capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr[-2000:]
    assert _objects(s3.location(bucket)) == {}


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CITY_USAGE_"))}


def test_publish_uploads_the_whole_local_file_then_removes_it(s3: S3Server, tmp_path):
    where = s3.location(s3.new_bucket() + "/curated")
    local = tmp_path / "staged.parquet"
    local.write_bytes(V1 * 1000)
    target = where.path("events", "day=2026-01-01", "part-0.parquet")
    where.publish(local, target)
    assert _objects(where) == {target: V1 * 1000}
    assert not local.exists()


def _day_table(day: date, ids: list[str]) -> pa.Table:
    rows = [{name: None for name in CURATED_SCHEMA.names} | {"event_id": i, "day": day}
            for i in ids]
    return pa.Table.from_pylist(rows, schema=CURATED_SCHEMA)


def test_layout_lists_reads_and_removes_day_files_on_s3(s3: S3Server):
    events = s3.location(s3.new_bucket() + "/curated/events")
    days = {date(2026, 3, 1): ["a", "b"], date(2026, 3, 2): ["c"], date(2026, 3, 5): ["d"]}
    for day, ids in days.items():
        events.write_atomic(layout.day_path(events, day), lambda fs, p, d=day, i=ids:
                            pq.write_table(_day_table(d, i), p, filesystem=fs))
    # Not day files: a temporary left by a killed writer, a stray file, another folder.
    for stray in ("day=2026-03-03/.tmp-1-part-0.parquet", "day=2026-03-04/other.parquet",
                  "notes/part-0.parquet"):
        with events.fs.open_output_stream(events.path(stray)) as out:
            out.write(b"x")

    listed = layout.day_files(events)
    assert [d for d, _ in listed] == sorted(days)
    assert [d for d, _ in layout.day_files(events, date(2026, 3, 2), date(2026, 3, 4))] == [
        date(2026, 3, 2)]
    asked = [date(2026, 3, 1), date(2026, 3, 3), date(2026, 3, 5)]
    assert layout.existing_day_files(events, asked) == [
        layout.day_path(events, date(2026, 3, 1)), layout.day_path(events, date(2026, 3, 5))]

    with duckdb.connect() as conn:
        count = layout.register_events(conn, events, [p for _, p in listed], "ev")
        rows = conn.sql("SELECT day, event_id FROM ev WHERE event_id <> 'b' ORDER BY 2").fetchall()
        assert count == 3
        assert rows == [(date(2026, 3, 1), "a"), (date(2026, 3, 2), "c"), (date(2026, 3, 5), "d")]
        layout.register_events(conn, events, [], "none")
        assert conn.sql("SELECT count(*) FROM none").fetchall() == [(0,)]
        assert [c[0] for c in conn.sql("SELECT * FROM none").description] == CURATED_SCHEMA.names

    assert layout.remove_temporaries(events) == 1
    assert not events.exists(events.path("day=2026-03-03/.tmp-1-part-0.parquet"))
    assert events.exists(events.path("day=2026-03-04/other.parquet"))  # not ours to delete

    layout.remove_day(events, date(2026, 3, 2))
    layout.remove_day(events, date(2026, 3, 9))  # no such day: nothing to do
    assert [d for d, _ in layout.day_files(events)] == [date(2026, 3, 1), date(2026, 3, 5)]


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_create_once_creates_a_file_exactly_once_among_racing_writers(backend, s3: S3Server,
                                                                      tmp_path):
    root = (s3.location(s3.new_bucket() + "/once") if backend == "s3"
            else location(tmp_path / "once"))
    path = root.path("sub", "evt_x.json")
    bodies = [f"body {n}".encode() for n in range(8)]
    start = threading.Barrier(len(bodies))
    created: dict[bytes, bool] = {}

    def create(body: bytes) -> None:
        start.wait()
        created[body] = root.create_once(path, body)

    threads = [threading.Thread(target=create, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [body for body, made in created.items() if made]
    assert len(created) == len(bodies) and len(winners) == 1
    assert _objects(root) == {path: winners[0]}  # and no temporary left behind
    assert root.create_once(path, b"later") is False
    assert root.read_bytes(path) == winners[0]
    # the keys the S3 client is made with are never shown
    assert "secret_key" not in repr(root) and "access_key" not in repr(root)
