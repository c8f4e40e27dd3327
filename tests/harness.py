"""The fault suite's tools: workspaces run by the real `city-usage` command, a snapshot of
everything a user can observe, a clean reference run, and the conservation check.

A workspace is one data dir, one DAGSTER_HOME and one landing folder; `materialize` runs the
real CLI in a subprocess (optionally as an unprivileged user, optionally with a crash point
from `usage_model/faults.py`). A case ends with `assert_converged`: the workspace's summaries,
curated events, quarantine and day loads equal those of a clean run over the same final
landing files in a fresh data dir, and every row read is accepted, an identical duplicate or
quarantined.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from polars.testing import assert_frame_equal

from tests.cli_process import CLI, ROOT
from tests.environment import CONFIG_VARS
from usage_model.storage import Location, location, s3_options_from_env
from usage_model.usage.sample import write_sample_landing
from usage_model.usage.summaries import DAILY_TABLES, MONTHLY_TABLES

END = date(2026, 5, 20)  # the baseline landing covers END-2 .. END
DAYS = 3
EVENTS_PER_DAY = 150
SEED = 11
SELECT = "group:usage"
COMPARED_TABLES = (*DAILY_TABLES, *MONTHLY_TABLES, "usage_quarantine", "usage_day_loads")
WALL_CLOCK_COLUMNS = ("quarantined_at", "built_at", "scanned_at")
NOBODY = 65534
KILLED = -9


@dataclass
class Workspace:
    root: Path
    landing: Path  # CITY_USAGE_LANDING: usage files live under landing/usage
    uid: int | None = None  # run the CLI as this user (permission faults need a non-root one)
    # CITY_USAGE_CURATED when the curated data is on S3 (else the data dir's curated/), and
    # the variables the CLI needs besides (the S3 endpoint and keys).
    curated_uri: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def usage(self) -> Path:
        return self.landing / "usage"

    @property
    def warehouse(self) -> Path:
        return self.data / "warehouse.duckdb"

    @property
    def events_root(self) -> Path:
        return self.data / "curated" / "events"

    @property
    def staging(self) -> Path:
        return (self.data / "work" if self.curated_uri else self.data / "curated") / "_staging"

    def events_location(self) -> Location:
        """The curated events, where the CLI writes them (local, or the S3 prefix)."""
        if self.curated_uri:
            return location(self.curated_uri.rstrip("/") + "/events",
                            s3_options_from_env(self.extra_env))
        return location(self.events_root)

    @classmethod
    def create(cls, root: Path, landing: Path | None = None, uid: int | None = None) -> Workspace:
        ws = cls(root, landing or root / "landing", uid)
        ws.home.mkdir(parents=True)
        shutil.copy(ROOT / "dagster.yaml", ws.home / "dagster.yaml")
        ws.usage.mkdir(parents=True, exist_ok=True)
        return ws

    def env(self, fault: str | None = None) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("PYTEST", "CITY_USAGE_")) and k not in CONFIG_VARS
        }
        # Bytecode cached outside the tree: with PYTHONDONTWRITEBYTECODE every CLI process
        # would compile dagster again (about 9 s of CPU each).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(
            PYTHONPYCACHEPREFIX=str(pycache_dir()),
            CITY_USAGE_DATA_DIR=str(self.data),
            CITY_USAGE_LANDING=str(self.landing),
            CITY_USAGE_CONFIG=str(self.root / "no-config.yaml"),
            DAGSTER_HOME=str(self.home),
        )
        if self.curated_uri:
            env["CITY_USAGE_CURATED"] = self.curated_uri
        env.update(self.extra_env)
        if fault:
            env["CITY_USAGE_FAULT_POINT"] = fault
        return env

    def command(self, *args: str) -> list[str]:
        if self.uid is None:
            return [*CLI, *args]
        ids = str(self.uid)
        return ["setpriv", "--reuid", ids, "--regid", ids, "--clear-groups", *CLI, *args]

    def materialize(self, *args: str, fault: str | None = None,
                    timeout: float = 300) -> subprocess.CompletedProcess:
        """`city-usage materialize` over the usage and summary assets, as a real process."""
        return subprocess.run(
            self.command("materialize", "--select", SELECT, *args), capture_output=True,
            text=True, env=self.env(fault), cwd=ROOT, timeout=timeout,
        )

    def start_materialize(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.command("materialize", "--select", SELECT, *args), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=self.env(), cwd=ROOT,
        )

    def give_to(self, uid: int) -> None:
        """Hand the data dir, DAGSTER_HOME and landing folders to `uid` (files keep modes)."""
        self.uid = uid
        for top in (self.root, self.landing):
            os.chown(top, uid, uid)
            for base, dirs, files in os.walk(top):
                for name in dirs + files:
                    os.chown(os.path.join(base, name), uid, uid, follow_symlinks=False)


def pycache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "city-usage-tests-pycache"
    if not path.exists():
        path.mkdir(exist_ok=True)
        path.chmod(0o1777)  # shared with the unprivileged user some cases run as
    return path


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    return done


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """A failed run: exit 1 and exactly one line on stderr, no traceback."""
    assert done.returncode == 1, f"exit {done.returncode}: {done.stderr[-2000:]}"
    lines = done.stderr.split("\n")
    if lines[-1] == "":
        lines.pop()
    assert len(lines) == 1 and lines[0].startswith("error: "), repr(done.stderr)
    return lines[0]


# ---- landing data ---------------------------------------------------------------------------

def write_landing(usage: Path, *, end: date = END, days: int = DAYS, seed: int = SEED) -> None:
    """Sample days (with same-day retries, conflicts, bad rows and a broken file) plus a file of
    copies from another day: identical ones, and ones whose time moved to the next day."""
    write_sample_landing(usage, days=days, events_per_day=EVENTS_PER_DAY, seed=seed, end=end)
    first = end - timedelta(days=days - 1)
    source = pq.read_table(usage / f"dt={first.isoformat()}" / "part-000.parquet").slice(0, 12)
    moved = source.slice(6).set_column(
        source.schema.get_field_index("occurred_at"), "occurred_at",
        pa.compute.add(source.slice(6)["occurred_at"], pa.scalar(timedelta(days=1))),
    )
    resend = usage / "resend" / f"late-{first.isoformat()}.parquet"
    resend.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables([source.slice(0, 6), moved]), resend)


def landing_digest(landing: Path) -> str:
    """Names, modes and bytes of every landed file (what a clean run would see)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(landing)}\0{path.stat().st_mode:o}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def copy_workspace(source: Workspace, root: Path) -> Workspace:
    """A workspace holding a copy of `source`'s landing, warehouse, curated files and runs."""
    shutil.copytree(source.root, root, symlinks=True)
    landing = root / "landing"
    if source.landing != source.root / "landing":
        shutil.copytree(source.landing, landing)
    return Workspace(root, landing, source.uid)


# ---- observable state -----------------------------------------------------------------------

Snapshot = dict[str, pl.DataFrame]


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True) if frame.height else frame


def snapshot(ws: Workspace) -> Snapshot:
    """Every summary table, the quarantine, the day loads and all curated events, sorted,
    without wall-clock columns."""
    state: Snapshot = {}
    with duckdb.connect(str(ws.warehouse), read_only=True) as conn:
        for name in COMPARED_TABLES:
            frame = pl.from_arrow(conn.sql(f"SELECT * FROM {name}").to_arrow_table())
            state[name] = _sorted(frame.drop(WALL_CLOCK_COLUMNS, strict=False))
        # A day rebuilt after its last file went away keeps a load row of zeros; a clean run
        # never built that day. Both say "no rows that day".
        state["usage_day_loads"] = state["usage_day_loads"].filter(pl.col("rows_indexed") > 0)
    events = ws.events_location()
    files = curated_parquet_files(events)
    state["curated_files"] = pl.DataFrame(
        {"file": [path.removeprefix(events.root + "/") for path in files]},
        schema={"file": pl.String},
    )
    if files:
        tables = [pq.ParquetFile(events.fs.open_input_file(path)).read() for path in files]
        state["curated_events"] = _sorted(pl.from_arrow(pa.concat_tables(tables)))
    else:
        state["curated_events"] = pl.DataFrame()
    return state


def curated_parquet_files(events: Location) -> list[str]:
    """Every Parquet file under the curated events root (a stray one too), listed with
    pyarrow's filesystem (not through the project's layout code), sorted."""
    selector = pafs.FileSelector(events.root, recursive=True, allow_not_found=True)
    return sorted(info.path for info in events.fs.get_file_info(selector)
                  if info.type == pafs.FileType.File and info.path.endswith(".parquet"))


def assert_same_state(actual: Snapshot, expected: Snapshot) -> None:
    for name in expected:
        try:
            assert_frame_equal(actual[name], expected[name])
        except AssertionError as exc:
            raise AssertionError(f"{name} differs from the clean run: {exc}") from None


def conservation(ws: Workspace) -> dict[str, int]:
    with duckdb.connect(str(ws.warehouse), read_only=True) as conn:
        def one(sql: str) -> int:
            return int(conn.sql(sql).fetchall()[0][0])

        counts = {
            "rows_read": one("SELECT coalesce(sum(rows_read), 0) FROM usage_files"),
            "loads_accepted": one("SELECT coalesce(sum(accepted), 0) FROM usage_day_loads"),
            "identical": one(
                "SELECT coalesce(sum(identical_duplicates), 0) FROM usage_day_loads"),
            "quarantined": one(
                "SELECT count(*) FILTER (WHERE source_row IS NOT NULL) "
                "+ coalesce(sum(row_count) FILTER (WHERE source_row IS NULL), 0) "
                "FROM usage_quarantine"),
        }
    events = ws.events_location()
    counts["curated"] = sum(pq.read_metadata(events.fs.open_input_file(path)).num_rows
                            for path in curated_parquet_files(events))
    return counts


def assert_conserved(ws: Workspace) -> dict[str, int]:
    """Rows read = accepted + identical duplicates + quarantined; curated = accepted."""
    c = conservation(ws)
    assert c["curated"] == c["loads_accepted"], c
    assert c["rows_read"] == c["loads_accepted"] + c["identical"] + c["quarantined"], c
    return c


class CleanRuns:
    """Clean reference runs, one per distinct final landing set (cached: several cases end on
    the same files)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.cache: dict[str, Snapshot] = {}

    def remember(self, ws: Workspace, state: Snapshot) -> None:
        self.cache[landing_digest(ws.landing) + str(ws.uid)] = state

    def reference(self, ws: Workspace) -> Snapshot:
        key = landing_digest(ws.landing) + str(ws.uid)
        if key not in self.cache:
            clean = Workspace.create(self.scratch / f"clean-{key[:12]}", landing=ws.landing)
            if ws.uid is not None:
                clean.give_to(ws.uid)
            ok(clean.materialize())
            self.cache[key] = snapshot(clean)
        return self.cache[key]

    def assert_converged(self, ws: Workspace) -> None:
        """The workspace equals a clean run on its landing, conserves rows, and keeps no
        staging leftovers."""
        assert_same_state(snapshot(ws), self.reference(ws))
        assert_conserved(ws)
        leftovers = list(ws.staging.iterdir()) if ws.staging.exists() else []
        assert not leftovers, f"staging leftovers: {leftovers}"
