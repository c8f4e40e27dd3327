"""The scan's per-file reads as steps of their own, possibly on other machines (distributed
mode's map steps): plan which landed files need reading, read a share of them, store each
result where every machine reaches it, and hand the results to the warehouse's record step.

- `plan_reads` (needs the warehouse: it compares landing with the manifest) lists the files
  that are new or changed, as small `ReadTask`s split into `steps` shares of similar size.
- `read_and_store` (no warehouse) reads one share with `file_scan.read_file` in its own
  in-memory DuckDB, or on the process pool of CITY_USAGE_SCAN_WORKERS, and stores each file's
  scanned rows (Parquet) and `FileScan` (JSON and Parquet, `stored_scan`: never pickle)
  under the exchange location: `<curated>/_work/reads/<run>/<key>/` (on S3 when the
  curated events are; else the local work root). Written atomically and
  keyed by the file's listing, so a step delivered again after its worker died rewrites the
  same objects.
- `stored_scans` gives the warehouse step, one file at a time and in landing order, the
  stored scan of each file it is about to record (ingest.scan_landing's `pre_read`). A file
  without a stored result, or whose landed bytes changed since the plan, gets None: the
  warehouse step reads it itself, so no row is ever lost to a missing map result.

Nothing here holds a filesystem object or a credential: tasks and results cross processes
and machines as plain values (paths, sizes, times, keys).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow.fs as pafs

from usage_model import clock
from usage_model.config import Settings
from usage_model.faults import fault_point
from usage_model.storage import Location, location
from usage_model.usage import ingest, scanned, stored_scan
from usage_model.usage.file_scan import FileScan, ScanJob, file_scans, read_file
from usage_model.usage.landing import LandedFile, stat_landed
from usage_model.warehouse import fetch_one, scratch_connection

log = logging.getLogger(__name__)

_LOCAL = pafs.LocalFileSystem()
ROWS_NAME = "rows.parquet"
# The run's folder where its steps' outputs are kept (assets/resources.py, ReadsIOManager).
STEP_OUTPUTS = "_steps"


@dataclass(frozen=True)
class ReadTask:
    """One landed file as the plan listed it, and the rules its read applies."""

    path: str  # relative to the usage landing root
    size_bytes: int
    mtime_ns: int
    ctime_ns: int
    timezone: str
    future_limit: datetime
    session_time_zone: str

    @property
    def key(self) -> str:
        """Where its result is stored: the same listing always gives the same key."""
        listing = f"{self.path}\0{self.size_bytes}\0{self.mtime_ns}\0{self.ctime_ns}"
        return hashlib.sha256(listing.encode()).hexdigest()[:32]

    def lists(self, landed: LandedFile) -> bool:
        """Whether `landed` is still the file this task listed."""
        return (landed.path, landed.size_bytes, landed.mtime_ns, landed.ctime_ns) == (
            self.path, self.size_bytes, self.mtime_ns, self.ctime_ns)


def exchange_location(settings: Settings) -> Location:
    """Where read steps leave their results for the warehouse step: beside the curated
    events on S3 (every worker reaches it), else in the local work root."""
    if settings.curated_uri:
        return settings.curated_location().child("_work", "reads")
    return location(settings.work_root / "_work" / "reads")


def plan_reads(conn: duckdb.DuckDBPyConnection, settings: Settings, steps: int,
               now: datetime | None = None) -> list[list[ReadTask]]:
    """The new and changed landed files, as at most `steps` non-empty shares of about equal
    bytes (each in landing order). None with `steps` 0: the warehouse step reads them all."""
    if steps < 1:
        return []
    time_zone = fetch_one(conn, "SELECT current_setting('TimeZone')")[0]
    future_limit = (now or clock.now()) + settings.future_skew  # as scan_landing's
    tasks = [ReadTask(f.path, f.size_bytes, f.mtime_ns, f.ctime_ns, settings.timezone,
                      future_limit, time_zone) for f in ingest.files_to_scan(conn, settings)]
    shares: list[list[ReadTask]] = [[] for _ in range(min(steps, len(tasks)))]
    loads = [0] * len(shares)
    for task in sorted(tasks, key=lambda t: -t.size_bytes):  # largest first, to the lightest
        lightest = loads.index(min(loads))
        shares[lightest].append(task)
        loads[lightest] += task.size_bytes
    return [sorted(share, key=lambda t: t.path) for share in shares]


def _result_folder(settings: Settings, run_id: str, task: ReadTask) -> tuple[Location, str]:
    where = exchange_location(settings)
    return where, where.path(run_id, task.key)


def read_and_store(settings: Settings, tasks: list[ReadTask], run_id: str) -> list[ReadTask]:
    """Read `tasks` and store each result for the warehouse step; returns the tasks stored.
    A file gone or changed since the plan, or whose read failed, is left out (the warehouse
    step reads it itself and reports it the usual way)."""
    landing = settings.usage_landing_location()
    current = {t.path: stat_landed(landing, t.path) for t in tasks}
    fresh = [t for t in tasks if current[t.path] is not None and t.lists(current[t.path])]
    stored = []
    with tempfile.TemporaryDirectory(prefix="city-usage-read-") as scratch:
        jobs = [ScanJob(current[t.path], Path(scratch), t.timezone, t.future_limit,
                        t.session_time_zone) for t in fresh]
        for task, scan in zip(fresh, _read(jobs, settings), strict=True):
            if scan is not None and _stored(settings, run_id, task, scan):
                stored.append(task)
                # A crash here leaves some of the share stored (tests/distributed): the step
                # delivered again rewrites the same objects.
                fault_point("after_store_read", task.path)
    return stored


def _stored(settings: Settings, run_id: str, task: ReadTask, scan: FileScan) -> bool:
    try:
        _store(settings, run_id, task, scan)
    except Exception as exc:  # e.g. the object store refused: the warehouse step reads it
        _warn(task.path, "storing its read failed", exc)
        return False
    return True


def _warn(path: str, what: str, exc: Exception) -> None:
    log.warning("%s: %s (%s); the warehouse step reads it", path, what,
                " ".join(str(exc).split()) or type(exc).__name__)


def _read(jobs: list[ScanJob], settings: Settings) -> Iterable[FileScan | None]:
    """The jobs' scans in order: on the process pool when it has work for two, else here."""
    if settings.scan_workers > 1 and len(jobs) > 1:
        with file_scans(jobs, settings.scan_workers) as scans:
            yield from scans
        return
    for job in jobs:
        try:
            with scratch_connection(settings.duckdb_memory_limit) as conn:
                conn.execute("SET TimeZone = $tz", {"tz": job.session_time_zone})
                yield read_file(conn, job)
        except Exception as exc:  # the warehouse step reads it again and names the problem
            _warn(job.landed.path, "read step failed", exc)
            yield None


def _store(settings: Settings, run_id: str, task: ReadTask, scan: FileScan) -> None:
    """The scanned rows first, then the FileScan (usage_model/usage/stored_scan.py): a
    stored FileScan means its rows are there."""
    where, folder = _result_folder(settings, run_id, task)
    if scan.temporary is not None:
        local = str(scan.temporary)
        where.write_atomic(f"{folder}/{ROWS_NAME}", lambda fs, target: pafs.copy_files(
            local, target, source_filesystem=_LOCAL, destination_filesystem=fs))
        Path(local).unlink()
    stored_scan.store(where, folder, scan)


class StoredScans:
    """For ingest.scan_landing's `pre_read`: the stored scan of a landed file, its rows
    fetched into the scanned folder as a temporary `scanned.publish` names; None when there is
    none for this listing of the file, or it cannot be used (the caller then reads the file
    itself). `unusable` lists the files a read step reported stored whose stored scan could
    not be used (gone, unreadable or not validating), for the step's metadata."""

    def __init__(self, settings: Settings, stored: Iterable[ReadTask], run_id: str):
        self._settings = settings
        self._run_id = run_id
        self._by_path = {task.path: task for task in stored}
        self.unusable: list[str] = []

    def __call__(self, landed: LandedFile) -> FileScan | None:
        task = self._by_path.get(landed.path)
        if task is None or not task.lists(landed):
            return None
        try:
            return _fetch(self._settings, self._run_id, task)
        except Exception as exc:
            _warn(landed.path, "stored read unusable", exc)
            self.unusable.append(landed.path)
            return None


def stored_scans(settings: Settings, stored: Iterable[ReadTask], run_id: str) -> StoredScans:
    """The stored scans of `stored` for ingest.scan_landing (StoredScans)."""
    return StoredScans(settings, stored, run_id)


def _fetch(settings: Settings, run_id: str, task: ReadTask) -> FileScan:
    where, folder = _result_folder(settings, run_id, task)
    scan = stored_scan.load(where, folder)  # validated: these objects are data, never code
    if scan.rejection is not None:
        return scan
    root = scanned.folder(settings)
    root.mkdir(parents=True, exist_ok=True)
    temporary = root / f"_{uuid.uuid4().hex}.tmp"  # an orphan until recorded (remove_orphans)
    if where.is_local:  # the same work root: a rename (a record step run again reads the file)
        where.fs.move(f"{folder}/{ROWS_NAME}", str(temporary))
    else:
        pafs.copy_files(f"{folder}/{ROWS_NAME}", str(temporary), source_filesystem=where.fs,
                        destination_filesystem=_LOCAL)
    return replace(scan, temporary=temporary)


def stored_runs(settings: Settings) -> list[str]:
    """The runs that have stored results (their ids: the exchange's top-level folders)."""
    where = exchange_location(settings)
    selector = pafs.FileSelector(where.root, allow_not_found=True)
    return sorted(info.base_name for info in where.fs.get_file_info(selector)
                  if info.type == pafs.FileType.Directory)


def remove_reads(settings: Settings, run_id: str) -> None:
    """Delete the file results a run's read steps stored (once its warehouse step recorded
    them), keeping the steps' outputs: a warehouse step delivered again still loads them."""
    where = exchange_location(settings)
    selector = pafs.FileSelector(where.path(run_id), allow_not_found=True)
    for info in where.fs.get_file_info(selector):
        if info.type == pafs.FileType.Directory and info.base_name != STEP_OUTPUTS:
            where.fs.delete_dir(info.path)


def remove_run(settings: Settings, run_id: str) -> None:
    """Delete everything a run stored here (once it has ended)."""
    where = exchange_location(settings)
    where.remove_folder(where.path(run_id))
