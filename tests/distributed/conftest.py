"""One real cluster for the distributed tests, started by the project's own cluster/up.sh on
127.0.0.1 in a temporary data dir and stopped by cluster/down.sh.

Its workers inherit two crash points (usage_model/faults.py), each fired once (the marker file
names the points that fired, so the process that replaces a killed one does not crash the same
way): the worker process that records the third landed file in the warehouse step SIGKILLs
itself, and so does the first worker process that stores a file's result in a read step, with
the rest of its share unread. The first distributed run therefore loses a worker in the middle
of a read step and another in the middle of the warehouse step.

When the cluster stops, no process it recorded (servers, workers, the dagster-daemon) may be
left: a leftover is a test error.

Skipped, with the reason, only when a prerequisite is missing here (PostgreSQL binaries,
redis-server, a `postgres` user when running as root). Once they are present, a cluster that
does not start is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from tests.cli_process import CLI, ROOT
from tests.environment import CONFIG_VARS
from tests.harness import Workspace, pycache_dir

PG_BIN = Path("/usr/lib/postgresql/15/bin")
KILL_POINT = "after_scan_file:3,after_store_read:1"
READ_STEPS = 4
SUMMARY_STEPS = 4  # as many as the first run has days: each takes one
ROWS_PER_FOLD = 80


def missing_prerequisite() -> str | None:
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL binaries in {PG_BIN}"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (make test installs it as root with apt)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a 'postgres' user for initdb"
    return None


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST", "CITY_USAGE_", "AWS_")) and k not in CONFIG_VARS}
    env.pop("DAGSTER_HOME", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache_dir())
    return env


def _read_env_file(path: Path) -> dict[str, str]:
    """The variables `.cluster/env` exports, as bash sees them after sourcing it."""
    done = subprocess.run(
        ["bash", "-c", f"set -a; source {path}; env -0"], capture_output=True, check=True,
        env={"PATH": os.environ["PATH"]},
    )
    pairs = (item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return dict(pairs)


@dataclass
class Cluster:
    root: Path
    up_env: dict[str, str]  # what cluster/up.sh and down.sh ran with
    env: dict[str, str]  # .cluster/env as sourced: what `city-usage` runs with
    killed_marker: Path

    @property
    def workspace(self) -> Workspace:
        """The cluster's data dir seen as a workspace (warehouse; curated events on S3)."""
        return Workspace(self.root, self.root / "landing",
                         curated_uri=self.env["CITY_USAGE_CURATED"], extra_env=self.env)

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=ROOT,
                              env={**_clean_env(), **self.env}, timeout=timeout)

    def start_cli(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT, env={**_clean_env(), **self.env})


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    reason = missing_prerequisite()
    if reason:
        pytest.skip(f"distributed tests need local servers: {reason}")
    # Not under pytest's private temporary folder: the `postgres` user must reach its
    # subfolder, and cluster/up.sh changes no permission above the data dir.
    root = Path(tempfile.mkdtemp(prefix="city-usage-cluster-"))
    root.chmod(0o711)
    marker = root / "worker-killed"
    up_env = {
        **_clean_env(),
        "CITY_USAGE_DATA_DIR": str(root / "data"),
        "CLUSTER_DIR": str(root / ".cluster"),
        "CITY_USAGE_FAULT_POINT": KILL_POINT,
        "CITY_USAGE_FAULT_ONCE": str(marker),
        # More read steps than workers: both workers take some, although the second one's
        # first step starts seconds later (its step setup).
        "CITY_USAGE_READ_STEPS": str(READ_STEPS),
        "CITY_USAGE_SUMMARY_STEPS": str(SUMMARY_STEPS),
        # (The default, said here since the tests rely on it: the daemon monitors runs but
        # launches none. test_sensors.py switches automation on for itself.)
        "CLUSTER_AUTOMATION": "off",
        # Small bucket ranges, so the test landing's few hundred index rows make several
        # fold steps of the id index update for both workers (up.sh turns them on).
        "CITY_USAGE_INDEX_ROWS_PER_FOLD": str(ROWS_PER_FOLD),
    }
    started = subprocess.run([str(ROOT / "cluster" / "up.sh")], capture_output=True, text=True,
                             env=up_env, cwd=ROOT, timeout=300)
    pids = root / ".cluster" / "pids"
    recorded = pids.read_text().splitlines() if pids.exists() else []
    try:
        assert started.returncode == 0, f"cluster/up.sh failed: {started.stderr[-3000:]}"
        recorded = pids.read_text().splitlines()
        yield Cluster(root, up_env, _read_env_file(root / ".cluster" / "env"), marker)
    finally:
        stopped = subprocess.run([str(ROOT / "cluster" / "down.sh")], capture_output=True,
                                 text=True, env=up_env, cwd=ROOT, timeout=300)
        assert stopped.returncode == 0, f"cluster/down.sh failed: {stopped.stderr}"
        shutil.rmtree(root, ignore_errors=True)
        left = [line for line in recorded if _group_alive(int(line.split()[1]))]
        assert not left, f"cluster/down.sh left processes running: {left}"


def _group_alive(pid: int) -> bool:
    """Whether the process `pid`, or any of the group it leads (up.sh starts each but
    PostgreSQL with setsid, e.g. the daemon's own children), is still there."""
    for signal_ in (os.kill, os.killpg):
        try:
            signal_(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:  # another user's (the `postgres` user's server)
            return True
        return True
    return False


@pytest.fixture(scope="module")
def instance(cluster: Cluster) -> dg.DagsterInstance:
    """The cluster's Dagster instance (PostgreSQL), as the CLI opens it."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DAGSTER_HOME", "CITY_USAGE_PG_URL"):
            patch.setenv(name, cluster.env[name])
        return dg.DagsterInstance.get()
