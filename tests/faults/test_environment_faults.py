"""Faults around the pipeline rather than in the landing: the data dir runs out of space,
and several `materialize` processes share one data dir and one Dagster instance."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from datetime import timedelta

import pytest

from tests.harness import END, copy_workspace, ok, one_error_line, write_landing

TMPFS_BYTES = 24 << 20
LEFT_FREE = 256 << 10  # room for a little, not for a day's rebuild


def _fill(directory, leave: int) -> None:
    """Write a filler file until only `leave` bytes stay free on the file system."""
    stat = os.statvfs(directory)
    room = stat.f_bavail * stat.f_frsize - leave
    with open(directory / "filler", "wb") as handle:
        block = b"\0" * (1 << 20)
        while room > 0:
            try:
                room -= handle.write(block[: min(len(block), room)])
            except OSError as exc:  # the file system rounds up: full a little early is fine
                if exc.errno != errno.ENOSPC:
                    raise
                break


def test_disk_full_on_the_data_dir_then_space_freed_converges(baseline, scratch, clean_runs):
    ws = copy_workspace(baseline, scratch / "disk-full")
    loaded_data = ws.root / "data-before"
    ws.data.rename(loaded_data)
    ws.data.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(ws.data)],
        capture_output=True, text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the data dir here: {mounted.stderr.strip()}")
    try:
        shutil.copytree(loaded_data, ws.data, dirs_exist_ok=True)
        write_landing(ws.usage, end=END + timedelta(days=2), days=2, seed=47)
        _fill(ws.data, LEFT_FREE)
        full = ws.materialize()
        assert "Traceback" not in full.stderr
        one_error_line(full)
        (ws.data / "filler").unlink()
        ok(ws.materialize())
        clean_runs.assert_converged(ws)
    finally:
        subprocess.run(["umount", str(ws.data)], check=True)


def test_four_concurrent_runs_over_overlapping_ranges(loaded, clean_runs):
    """Same data dir, same DAGSTER_HOME, new days landed: every process ends with exit 0, or
    exit 1 and one line; then the state is the clean one (a rerun finishes a failed range)."""
    write_landing(loaded.usage, end=END + timedelta(days=2), days=2, seed=31)
    ranges = [(END - timedelta(days=2), END), (END - timedelta(days=1), END + timedelta(days=1)),
              (END, END + timedelta(days=2))]
    processes = [loaded.start_materialize("--from", a.isoformat(), "--to", b.isoformat())
                 for a, b in ranges]
    processes.append(loaded.start_materialize())
    failed = 0
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        if done.returncode != 0:
            one_error_line(done)
            failed += 1
    if failed:
        ok(loaded.materialize())
    clean_runs.assert_converged(loaded)
