"""Landing to curated events: the manifest scan, then the build of a window of days.

`scan_landing` reads each new or changed landed file once, records it in `usage_files`,
quarantines its invalid rows and files, and keeps its valid rows, normalized, as the file's
scanned rows (`scanned.py`); the scan then folds the new files into the all-time id index
(id hash, event_id, day, file, row; partitioned by id bucket, see id_index.py).
The per-file read (file_scan.read_file) runs in this process, or on a pool of worker
processes with CITY_USAGE_SCAN_WORKERS above 1; either way this process records the files in
landing order, one transaction each.
`build_days` then rebuilds whole days: it reads the scanned rows of the files whose days
overlap the window (never the landed files again), deduplicates against the index (so copies
in other files and other days count), writes one curated Parquet file per day (temporary
name, then rename) and replaces the window's conflicts and load counts in DuckDB. A window of
any size is built in groups of consecutive days of at most GROUP_ROWS manifest rows, one
commit each, so memory and spill stay bounded (copies on days outside a group come from the
index's record of repeated ids, as those outside the window do; no segment is read).

Every manifest change records, in its own transaction, the days it obliges to rebuild
(`usage_rebuild_intents`, see intents.py); the build's commit clears them. A file whose
scanned rows are gone or no longer match its content identity (unreadable, or rewritten after
the scan) is scanned again during the build, so its rows never leave the curated data silently.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from usage_model import clock
from usage_model.config import Settings
from usage_model.faults import fault_point
from usage_model.sql import load_sql, run_sql
from usage_model.storage import location
from usage_model.usage import id_index, intents, layout, scanned
from usage_model.usage.batching import bounded_runs
from usage_model.usage.event_model import CURATED_SCHEMA
from usage_model.usage.file_scan import (
    FileScan,
    ScanJob,
    create_raw_json_view,
    file_scans,
    read_file,
)
from usage_model.usage.landing import (
    LandedFile,
    StoredIdentity,
    footer_fingerprint,
    list_landed_files,
    read_landed_bytes,
    same_content,
    settles,
    stat_landed,
)
from usage_model.usage.normalize import (
    FileRejection,
    PreparedFile,
    parse_landed_bytes,
    prepare,
)
from usage_model.warehouse import fetch_one, transaction

CURATED_COLUMNS = scanned.CURATED_COLUMNS
_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.date32(): "DATE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}
# Scanned rows being built (build_rows), or read for their content (elsewhere_winners); the
# build sets `outcome` (classify.sql).
_ROWS_COLUMNS = (
    ", ".join(f"{f.name} {_DUCKDB_TYPES[f.type]}" for f in CURATED_SCHEMA)
    + ", id_hash UBIGINT, outcome VARCHAR DEFAULT 'accepted'"
)
BUILT_TABLES = ("build_rows", "copies_elsewhere", "winners", "elsewhere_winners",
                "copy_outcomes", "conflict_raw")


@dataclass
class ScanResult:
    new_files: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_valid: int = 0
    rows_invalid: int = 0
    problems: list[str] = field(default_factory=list)  # one line per rejected file
    days_touched: set[date] = field(default_factory=set)
    # Days whose result changed without a new file landing on them: days of a removed or
    # rewritten file's old rows, and days holding another copy of an event_id the scan
    # added or removed (its winner may have moved, docs/event-model.md rule 7).
    rebuild_days: set[date] = field(default_factory=set)
    # CPU seconds scan worker processes spent (CITY_USAGE_SCAN_WORKERS > 1): not this
    # process's, so profiles add it.
    worker_cpu_seconds: float = 0.0

    def absorb(self, other: ScanResult) -> None:
        """Add what another scan found (lists extended, sets joined, counts added)."""
        for item in fields(self):
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            if isinstance(mine, set):
                mine |= theirs
            elif isinstance(mine, list):
                mine.extend(theirs)
            else:
                setattr(self, item.name, mine + theirs)


@dataclass
class BuildResult:
    days: list[date]
    files_read: int = 0
    rows_indexed: int = 0
    accepted: int = 0
    identical_duplicates: int = 0
    conflicts: int = 0
    # Valid rows the manifest (the index) holds for the built days: what the build must
    # classify, every one of them (rows_conserved compares the two).
    rows_in_manifest: int = 0
    per_day: dict[date, int] = field(default_factory=dict)
    # Files found unreadable or different from the manifest while building: scanned again
    # (and their days added to the build) before the build went on.
    rescan: ScanResult = field(default_factory=ScanResult)

    def absorb(self, group: BuildResult) -> None:
        """Add the figures of one group of days built on the way."""
        self.files_read += group.files_read
        self.rows_indexed += group.rows_indexed
        self.accepted += group.accepted
        self.identical_duplicates += group.identical_duplicates
        self.conflicts += group.conflicts
        self.rows_in_manifest += group.rows_in_manifest
        self.per_day.update(group.per_day)
        self.rescan.absorb(group.rescan)


class LandingChangedError(RuntimeError):
    """Landed files kept changing while the build read them; the message names them."""


# A build checks its files again at most this many times after finding some that differ from
# the manifest (each time they are scanned again first); then it fails naming them.
BUILD_PASSES = 3
# Manifest rows a build holds at once, at most (a day with more is built alone): a window of
# any size is built in groups of consecutive days, so memory and spill stay bounded.
GROUP_ROWS = 10_000_000


def day_path(settings: Settings, day: date) -> Path:
    """A day's file in a local curated folder (settings.events_root: an error on S3)."""
    return Path(layout.day_path(location(settings.events_root), day))


def _future_limit(settings: Settings, now: datetime | None) -> datetime:
    return (now or clock.now()) + settings.future_skew


def _forget_file(
    conn: duckdb.DuckDBPyConnection, settings: Settings, path: str, result: ScanResult,
    reason: str,
) -> int | None:
    """Drop what an older version of a file contributed and record that its days must be
    rebuilt; returns its file_id, or None for a file the manifest does not know."""
    row = fetch_one(conn, load_sql(__file__, "file_by_path"), {"path": path})
    if row is None:
        return None
    file_id, min_day = row
    if min_day is not None:
        # Days holding other copies of its ids are found when the index drops its rows
        # (id_index.update), which records them in the same commit.
        old_days = {
            r[0]
            for r in run_sql(conn, __file__, "file_days", file_id=file_id).fetchall()
        }
        intents.record(conn, [intents.EVENTS], old_days, reason, path)
        result.rebuild_days |= old_days
        result.days_touched |= old_days
    run_sql(conn, __file__, "forget_file_days", file_id=file_id)
    run_sql(conn, __file__, "forget_file_quarantine", path=path)
    run_sql(conn, __file__, "forget_file_entry", file_id=file_id)
    # Before the commit: a crash in between leaves a manifest entry without its scanned rows,
    # which the build notices and scans again.
    scanned.remove(settings, file_id)
    return file_id



def _manifest_identity(file_id: int, landed: LandedFile, identity: tuple,
                       settled: int | None) -> dict[str, object]:
    """The manifest columns that say which bytes a file entry describes."""
    return {"id": file_id, "path": landed.path, "size": landed.size_bytes,
            "mtime": landed.mtime_ns, "ctime": landed.ctime_ns, "fp": identity[0],
            "footer": identity[1], "settled": settled}


def _record_rejected_file(
    conn: duckdb.DuckDBPyConnection,
    landed: LandedFile,
    file_id: int,
    identity: tuple[str | None, str | None],
    rejection: FileRejection,
    result: ScanResult,
    settled: int | None,
) -> None:
    detail = f"{landed.path}: {rejection.reason}: {rejection.detail}"
    run_sql(conn, __file__, "manifest_insert_rejected",
            **_manifest_identity(file_id, landed, identity, settled), status=rejection.reason,
            rows=rejection.row_count)
    run_sql(conn, __file__, "quarantine_insert_file", path=landed.path,
            reason=rejection.reason, detail=detail, rows=rejection.row_count)
    result.problems.append(detail)
    result.rows_read += rejection.row_count or 0
    result.rows_invalid += rejection.row_count or 0


def _load_file(landed: LandedFile) -> PreparedFile | FileRejection:
    read = read_landed_bytes(landed.absolute, landed.fs)
    table = parse_landed_bytes(read.data, read.error)
    if isinstance(table, FileRejection):
        return table
    return prepare(table)


def _scan_job(conn: duckdb.DuckDBPyConnection, settings: Settings, landed: LandedFile,
              future_limit: datetime) -> ScanJob:
    time_zone = fetch_one(conn, "SELECT current_setting('TimeZone')")[0]
    return ScanJob(landed, scanned.folder(settings), settings.timezone, future_limit, time_zone)


def _record_scan(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    landed: LandedFile,
    file_id: int,
    scan: FileScan,
    result: ScanResult,
    settled: int | None = None,
) -> None:
    """Record one file's scan under `file_id`: its scanned rows, days, quarantine, rebuild
    intents and manifest entry (in the caller's transaction). `settled`: see
    landing.settles (only for bytes read after the listing that saw `landed`)."""
    identity = (scan.fingerprint, scan.footer_sha256)
    result.worker_cpu_seconds += scan.worker_cpu_seconds
    if scan.rejection is not None:
        _record_rejected_file(conn, landed, file_id, identity, scan.rejection, result, settled)
        return
    conn.register("scan_file_days", scan.day_counts)
    conn.register("scan_quarantine", scan.quarantine)
    run_sql(conn, __file__, "file_days_insert", file_id=file_id)
    scanned.publish(settings, scan.temporary, file_id, scan.fingerprint or "")
    run_sql(conn, __file__, "scan_insert_quarantine", source_file=landed.path)
    conn.unregister("scan_file_days")
    conn.unregister("scan_quarantine")
    rows, valid, min_day, max_day, min_at, max_at = scan.totals
    new_days = {r[0] for r in run_sql(conn, __file__, "file_days", file_id=file_id).fetchall()}
    intents.record(conn, [intents.EVENTS], new_days, "new_rows", landed.path)
    result.days_touched |= new_days
    run_sql(conn, __file__, "manifest_insert_ok",
            **_manifest_identity(file_id, landed, identity, settled),
            shape=scan.shape, rows=rows, valid=valid, invalid=rows - valid,
            min_day=min_day, max_day=max_day, min_at=min_at, max_at=max_at)
    result.rows_read += rows
    result.rows_valid += valid
    result.rows_invalid += rows - valid


def _rescan_file(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    landed: LandedFile,
    future_limit: datetime,
    result: ScanResult,
    scan: FileScan | None = None,
) -> None:
    """Replace one file's manifest entry, index rows, quarantine rows and the rebuild intents
    they cause, in one transaction. `scan`: the file already read by a scan worker (else it is
    read here)."""
    with transaction(conn):
        file_id = _forget_file(conn, settings, landed.path, result, "changed_file")
        if file_id is None:
            file_id = fetch_one(conn, load_sql(__file__, "next_file_id"))[0]
            result.new_files.append(landed.path)
        else:
            result.changed_files.append(landed.path)
        # Bytes read here were read after the listing that saw `landed`, so they may settle
        # it; a read step's bytes are older than this listing: its footer settles it later.
        settled = None
        if scan is None:
            scan = read_file(conn, _scan_job(conn, settings, landed, future_limit))
            settled = settles(landed)
        _record_scan(conn, settings, landed, file_id, scan, result, settled)
    fault_point("after_scan_file", landed.absolute)


def _remove_file(
    conn: duckdb.DuckDBPyConnection, settings: Settings, path: str, result: ScanResult
) -> None:
    with transaction(conn):
        _forget_file(conn, settings, path, result, "removed_file")
    fault_point("after_forget_file")
    result.removed_files.append(path)


def _stored_identities(conn: duckdb.DuckDBPyConnection) -> dict[str, StoredIdentity]:
    return {
        row[0]: StoredIdentity(*row[1:])
        for row in run_sql(conn, __file__, "stored_identities").fetchall()
    }


# What a caller already read (file_reads.stored_scans): a landed file's scan, or None when
# this process must read it.
PreRead = Callable[[LandedFile], FileScan | None]


@contextmanager
def _scans(
    conn: duckdb.DuckDBPyConnection, settings: Settings, files: list[LandedFile],
    future_limit: datetime, pre_read: PreRead | None = None,
) -> Iterator[Iterator[FileScan | None]]:
    """The scans of `files` in order: the caller's `pre_read` ones (fetched one at a time, as
    they are recorded), or read by a process pool when CITY_USAGE_SCAN_WORKERS allows more
    than one and there are at least two files; else all None (each file is read in this
    process, inside its transaction)."""
    if pre_read is not None:
        yield (pre_read(f) for f in files)
        return
    if settings.scan_workers < 2 or len(files) < 2:
        yield itertools.repeat(None)
        return
    jobs = [_scan_job(conn, settings, f, future_limit) for f in files]
    with file_scans(jobs, settings.scan_workers) as scans:
        yield scans


def _needs_scan(file: LandedFile, known: dict[str, StoredIdentity]) -> bool:
    return file.path not in known or not same_content(file, known[file.path])


def files_to_scan(conn: duckdb.DuckDBPyConnection, settings: Settings) -> list[LandedFile]:
    """The landed files scan_landing would read now (new, or content changed), in order."""
    known = _stored_identities(conn)
    return [f for f in list_landed_files(settings.usage_landing_location())
            if _needs_scan(f, known)]


def scan_landing(
    conn: duckdb.DuckDBPyConnection, settings: Settings, now: datetime | None = None,
    pre_read: PreRead | None = None, index: bool = True,
) -> ScanResult:
    """Bring the manifest up to date with the landing folder; one transaction per file.

    A file is scanned again only when its content changed (see `landing.same_content`); one
    whose bytes are the same but whose times changed (`touch`) only has its times updated.
    `pre_read`: files already read elsewhere (the distributed read steps); the others are
    read here, so the result is the same either way. `index` False leaves the new files
    unindexed, for the caller to fold into the id index (index_folds: the distributed steps).
    """
    result = ScanResult()
    future_limit = _future_limit(settings, now)
    known = _stored_identities(conn)
    landed = list_landed_files(settings.usage_landing_location())
    for path in sorted(set(known) - {f.path for f in landed}):
        _remove_file(conn, settings, path, result)
    scanned.remove_orphans(conn, settings)
    changed = [f for f in landed if _needs_scan(f, known)]
    with _scans(conn, settings, changed, future_limit, pre_read) as scans:
        for file in landed:
            stored = known.get(file.path)
            if _needs_scan(file, known):
                _rescan_file(conn, settings, file, future_limit, result, next(scans))
            elif (file.mtime_ns, file.ctime_ns) != (stored.mtime_ns, stored.ctime_ns):
                run_sql(conn, __file__, "manifest_touch", mtime=file.mtime_ns,
                        ctime=file.ctime_ns, path=file.path,
                        footer=footer_fingerprint(file.absolute, file.fs),
                        settled=settles(file))
            elif stored.settled_at_ns is None and (settled := settles(file)) is not None:
                # (its footer was just read and matched, after this listing)
                run_sql(conn, __file__, "manifest_settle", settled=settled, path=file.path)
    if index:
        id_index.update(conn, settings, result)
    fault_point("after_scan")
    return result


def _still_scanned(settings: Settings, row: tuple) -> bool:
    """Whether a window file's landed bytes are still those scanned and its scanned rows are
    all there (else the build scans it again first)."""
    file_id, path, rows_valid, size, mtime, ctime, footer, fp = row
    landed = stat_landed(settings.usage_landing_location(), path)
    if landed is None or not same_content(landed, StoredIdentity(size, mtime, ctime, footer, fp)):
        return False
    return scanned.holds(scanned.path_of(settings, file_id, fp or ""), rows_valid)


def _collect_build_rows(
    conn: duckdb.DuckDBPyConnection, settings: Settings, days: list[date], files: list[tuple]
) -> int:
    """Valid rows of the window, from the scanned rows of every file that touches it."""
    _create_rows_table(conn, "build_rows")
    paths = [scanned.path_of(settings, row[0], row[7] or "") for row in files]
    if paths:
        scanned.insert_rows(conn, "build_rows", paths, days)
    return len(paths)


def _create_rows_table(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    # Composed from the curated schema's own columns and a fixed table name.
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {table} ({_ROWS_COLUMNS})")


def _rank_copies(
    conn: duckdb.DuckDBPyConnection, settings: Settings, days: list[date]
) -> list[str]:
    """Rank the copies of the window's repeated ids (`winners`) and read the winners outside
    the window from their files' scanned rows (`elsewhere_winners`); returns the paths of
    such files that changed or lost their scanned rows (to be scanned again first)."""
    id_index.recorded_copies(conn, "build_rows", "copies_elsewhere", exclude_days=days)
    run_sql(conn, __file__, "winners")
    owners = run_sql(conn, __file__, "elsewhere_winner_files").fetchall()
    differing = [row[1] for row in owners if not _still_scanned(settings, row)]
    if not differing:
        _create_rows_table(conn, "elsewhere_winners")
        if owners:
            scanned.insert_winner_rows(conn, "elsewhere_winners", [
                scanned.path_of(settings, row[0], row[7] or "") for row in owners])
    return differing


def _conflict_raw_rows(conn: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """The landed JSON of conflicting rows, read again only from files that have some."""
    run_sql(conn, __file__, "conflict_raw_create")
    paths = [r[0] for r in run_sql(conn, __file__, "conflict_files").fetchall()]
    root = settings.usage_landing_location()
    for path in paths:
        prepared = _load_file(LandedFile(path, root.path(path), 0, 0, 0, root.fs))
        if isinstance(prepared, FileRejection):
            continue
        conn.register("raw_rows", prepared.raw)
        create_raw_json_view(conn, prepared)
        run_sql(conn, __file__, "conflict_raw_insert", path=path)
        run_sql(conn, __file__, "raw_json_drop")
        conn.unregister("raw_rows")


def clear_staging(settings: Settings) -> int:
    """Remove the staging files of builds that died before their rename (and the hidden
    temporaries of S3 uploads that died before their copy into place); returns how many.

    Safe while building: only the process holding the warehouse's write lock writes here.
    """
    staging = settings.work_root / "_staging"
    leftovers = list(staging.glob("*.parquet")) if staging.exists() else []
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return len(leftovers) + layout.remove_temporaries(settings.events_location())


def _write_day(conn: duckdb.DuckDBPyConnection, settings: Settings, day: date) -> int:
    """Replace one day's curated file whole: a local staging file, then published in one step
    (a rename, or an upload to S3 that appears whole; see storage.Location.publish)."""
    events = settings.events_location()
    count = fetch_one(conn, load_sql(__file__, "day_accepted_count"), {"day": day})[0]
    if count == 0:
        layout.remove_day(events, day)
        return 0
    staging = settings.work_root / "_staging"
    staging.mkdir(parents=True, exist_ok=True)
    temporary = staging / f"{day.isoformat()}-{uuid.uuid4().hex}.parquet"
    # The relation API writes the file: its path is a value, never spliced into SQL text.
    accepted = conn.sql(load_sql(__file__, "day_accepted_rows"), params={"day": day})
    accepted.project(CURATED_COLUMNS).write_parquet(
        temporary.as_posix(), compression="zstd", row_group_size=122880)
    fault_point("before_day_replace")
    events.publish(temporary, layout.day_path(events, day))
    fault_point("after_day_replace")
    return count


def _rescan_paths(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    paths: list[str],
    future_limit: datetime,
    result: ScanResult,
) -> None:
    for path in paths:
        landed = stat_landed(settings.usage_landing_location(), path)
        if landed is None:
            _remove_file(conn, settings, path, result)
        else:
            _rescan_file(conn, settings, landed, future_limit, result)


def _gather(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    result: BuildResult,
    future_limit: datetime,
) -> None:
    """Fill build_rows with every valid row the manifest holds for the window's days, from the
    scan's rows of each file, and rank the copies of repeated ids (`_rank_copies`). A file
    whose landed bytes changed since the scan (unreadable now, or rewritten) or whose scanned
    rows are missing, in the window or holding a winner outside it, is scanned again first
    (quarantined, or indexed anew, with its days added to the window)."""
    for _ in range(BUILD_PASSES):
        # Files a killed scan left unindexed, or just scanned again, join the index first.
        id_index.update(conn, settings, result.rescan)
        result.days = sorted(set(result.days) | result.rescan.days_touched)
        days = result.days
        files = run_sql(conn, __file__, "window_files", first=days[0], last=days[-1]).fetchall()
        differing = [row[1] for row in files if not _still_scanned(settings, row)]
        if not differing:
            result.files_read = _collect_build_rows(conn, settings, days, files)
            differing = _rank_copies(conn, settings, days)
            if not differing:
                return
        _rescan_paths(conn, settings, differing, future_limit, result.rescan)
    raise LandingChangedError(
        f"{', '.join(differing)}: changed again while being built "
        f"({BUILD_PASSES} attempts); run again once landing is quiet"
    )


def _day_groups(conn: duckdb.DuckDBPyConnection, days: list[date]) -> list[list[date]]:
    """The window split into consecutive groups of days holding at most GROUP_ROWS manifest
    rows each (a day bigger than that is a group of its own)."""
    counts = dict(run_sql(conn, __file__, "manifest_day_rows", days=days).fetchall())
    return bounded_runs([(day, counts.get(day, 0)) for day in days], GROUP_ROWS)


def _build_group(
    conn: duckdb.DuckDBPyConnection, settings: Settings, days: list[date],
    future_limit: datetime,
) -> BuildResult:
    """Build one group of days (and any day a file scanned again on the way adds): gather
    them, rank and classify their rows (copies on other days come from the index), write
    their curated files and commit their conflicts, day loads and intents in one
    transaction."""
    result = BuildResult(days=days)
    _gather(conn, settings, result, future_limit)
    days = result.days
    result.rows_in_manifest = fetch_one(conn, load_sql(__file__, "rows_in_manifest"),
                                        {"days": days})[0]
    run_sql(conn, __file__, "copy_outcomes")
    run_sql(conn, __file__, "classify")
    _conflict_raw_rows(conn, settings)
    clear_staging(settings)
    with transaction(conn):
        for day in days:
            result.per_day[day] = _write_day(conn, settings, day)
        run_sql(conn, __file__, "forget_conflicts", days=days)
        run_sql(conn, __file__, "insert_conflicts")
        run_sql(conn, __file__, "forget_day_loads", days=days)
        run_sql(conn, __file__, "day_loads", days=days)
        intents.clear(conn, [intents.EVENTS], days)
        intents.record_events_rebuilt(conn, days)
        totals = fetch_one(conn, load_sql(__file__, "classified_totals"))
        fault_point("before_build_commit")
    fault_point("after_build_commit")
    (result.rows_indexed, result.accepted, result.identical_duplicates, result.conflicts) = totals
    for name in BUILT_TABLES:
        run_sql(conn, __file__, "drop_table", idents={"table": name})
    return result


def build_days(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    days: Iterable[date],
    now: datetime | None = None,
) -> BuildResult:
    """Rebuild whole days of curated events; idempotent (the window is replaced). The window
    is built in groups of consecutive days of bounded size (`_day_groups`), one commit each:
    the commit that records a group's day loads also clears those days' rebuild intents and
    marks their summaries stale. A crash after a curated file was replaced but before that
    commit leaves the intents of that group and the later ones, so the next run builds those
    days again."""
    result = BuildResult(days=sorted(set(days)))
    if not result.days:
        return result
    future_limit = _future_limit(settings, now)
    # Files a killed scan left unindexed join the index before the window is split: the
    # split counts the manifest's rows, and the days whose winner moved join the window.
    id_index.update(conn, settings, result.rescan)
    pending = sorted(set(result.days) | result.rescan.days_touched)
    built: set[date] = set()
    for group in _day_groups(conn, pending):
        # (a file scanned again while building an earlier group may have added these days)
        todo = [day for day in group if day not in built]
        if todo:
            part = _build_group(conn, settings, todo, future_limit)
            built |= set(part.days)
            result.absorb(part)
    result.days = sorted(built)
    return result
