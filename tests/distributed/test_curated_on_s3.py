"""Curated events on S3 without the cluster: `CITY_USAGE_CURATED=s3://…` against a real S3
server (moto, in this process, on 127.0.0.1), driven by the real `city-usage` command.

The run writes the day files as objects under the prefix (nothing curated on local disk; the
build's working state in `<data dir>/work`), a run killed right after publishing a day
converges on the next run, the result equals the embedded default's row for row, and the
read commands (`summary` from the events, `events`) give the same answers from S3.
Not marked `distributed`: it needs no server that could be missing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.fs as pafs

from tests.harness import (
    KILLED,
    Workspace,
    assert_conserved,
    assert_same_state,
    ok,
    snapshot,
    write_landing,
)
from tests.s3_server import S3Server, s3_fixture  # noqa: F401 - provides `s3`

READS = (
    ("summary", "--by", "model,status", "--source", "events", "--measures", "all",
     "--granularity", "day", "--format", "json"),
    ("events", "--limit", "40", "--format", "json"),
)


def _read(ws: Workspace, *args: str) -> object:
    done = ok(subprocess.run(ws.command(*args), capture_output=True, text=True, env=ws.env(),
                             cwd=ws.root, timeout=120))
    return json.loads(done.stdout)


def test_materialize_writes_curated_events_to_s3_and_reads_them_back(
    s3: S3Server, tmp_path: Path
):
    embedded = Workspace.create(tmp_path / "embedded")
    write_landing(embedded.usage)
    remote = Workspace.create(tmp_path / "remote", landing=embedded.landing)
    remote.curated_uri = s3.new_bucket() + "/curated"
    remote.extra_env = s3.env

    # Killed right after the second day's object was published, before the commit: the next
    # run builds those days again and ends where a clean run does.
    killed = remote.materialize(fault="after_day_replace:2")
    assert killed.returncode == KILLED, killed.stderr[-2000:]
    ok(remote.materialize())
    ok(embedded.materialize())

    assert_same_state(snapshot(remote), snapshot(embedded))
    conserved = assert_conserved(remote)
    assert conserved["curated"] > 0 and conserved["quarantined"] > 0
    assert not (remote.data / "curated").exists(), "curated data written to local disk"
    assert (remote.data / "work" / "_scanned").is_dir()
    # the id index and its update's staging sit beside the curated data, for the workers
    assert not (remote.data / "work" / "_index").exists()
    assert not (remote.data / "work" / "_index_staging").exists()
    index = s3.location(remote.curated_uri + "/_index")
    assert any(info.base_name.endswith(".parquet") for info in index.fs.get_file_info(
        pafs.FileSelector(index.root, recursive=True)))
    assert not any((remote.data / "work" / "_staging").iterdir()), "staging leftovers"

    for args in READS:
        from_s3 = _read(remote, *args)
        assert from_s3, f"{args[0]} read nothing from S3"
        assert from_s3 == _read(embedded, *args), f"{args[0]} differs between S3 and local"
