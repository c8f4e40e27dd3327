"""Fixtures of the fault suite: a scratch folder an unprivileged user can reach, clean
reference runs, and a baseline workspace materialized once per test process and copied by
each case (so a case starts from a loaded warehouse without paying for its first run)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import CleanRuns, Workspace, copy_workspace, ok, snapshot, write_landing


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    # Not under pytest's tmp dir: that one is private to root, and some cases run the CLI as
    # `nobody` to make permissions bite. In memory when the machine has /dev/shm: Dagster's
    # SQLite run storage commits hundreds of times per run, and fsync on a disk halves speed.
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="city-usage-faults-", dir=shm if shm.is_dir() else None))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def clean_runs(scratch: Path) -> CleanRuns:
    return CleanRuns(scratch)


@pytest.fixture(scope="session")
def baseline(scratch: Path, clean_runs: CleanRuns) -> Workspace:
    """The baseline landing, materialized once: also the clean reference for itself."""
    ws = Workspace.create(scratch / "baseline")
    write_landing(ws.usage)
    ok(ws.materialize())
    clean_runs.remember(ws, snapshot(ws))
    return ws


@pytest.fixture
def loaded(baseline: Workspace, scratch: Path, request: pytest.FixtureRequest) -> Workspace:
    """A private copy of the loaded baseline for one case."""
    name = request.node.name.translate(str.maketrans("[]/:", "____"))
    return copy_workspace(baseline, scratch / name)
