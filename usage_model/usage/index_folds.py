"""The id index update (id_index.py) in three parts with plain-value hand-offs, so that its
heavy middle runs on any worker (distributed mode's reduce steps) and only a small commit on
the warehouse:

- `plan` (warehouse): removes orphans, makes sure the record of repeated ids exists, finds
  the files ready to index, stages their index rows by bucket under
  `_index_staging/<plan>/rows/` beside the index (beside `kept.parquet`, the files indexed
  now)
  and cuts the touched buckets into ranges of about `Settings.index_rows_per_fold` rows.
  Each range is a `FoldTask`: its staged files, the segments it replaces (and which of
  those hold rows of files no longer indexed), every current segment of its buckets, the
  new file ids, where the indexed ones are, the next segment number and the *base*: a
  digest of what the plan saw (current segments, indexed files, new files).
- `fold` (no warehouse; its own in-memory DuckDB): gathers the range's rows, finds the other
  copies of its touched ids in the current segments, computes the days whose winner may have
  moved and the record's new rows for those ids, sorts and writes the new segments (named
  after the plan, unlisted until the commit). Its `FoldResult` is small: the segments written,
  the moved days, and two Parquet files beside the staging (the record's new rows, and the
  touched ids whose recorded rows go: those with a copy already in the index).
- `commit` (warehouse, one transaction): if the base is no longer current (another update
  committed, or files were indexed or forgotten since the plan) the update is planned and
  folded again right here; a range whose fold failed or whose segments are gone is folded
  here. Then the segments are swapped, the record changed, the files marked indexed and the
  days whose winner moved recorded as rebuild intents, all at once.

`update` composes the three in one process. A plan `register`ed in the warehouse
(`usage_index_plans`: the distributed steps) keeps its segments and staged rows from orphan
removal until its commit, or until its run has ended (`release`); an unregistered one (the
in-process update) needs no such guard, since its folds run inside the warehouse step.

Tasks and results cross processes as plain values (paths, numbers, dates), never pickles.
The staged rows and the index sit at `Settings.shared_work_location()`: the local work root
embedded, the curated `s3://` prefix in distributed mode, so a fold runs on any worker, with
no folder shared with the warehouse host. Paths in tasks and results are paths of that
Location's filesystem; every process builds the Location from its own settings.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from usage_model import clock, storage
from usage_model.config import Settings
from usage_model.faults import fault_point
from usage_model.sql import load_sql, run_sql
from usage_model.usage import id_index, intents
from usage_model.usage.id_index import Segment, Touched
from usage_model.warehouse import scratch_connection, transaction

log = logging.getLogger(__name__)

STAGING = "_index_staging"
RECORD_COME = "come.parquet"  # the record's rows for the range's touched ids, after the update
KEPT = "kept.parquet"  # the files indexed when planned, for every fold of a plan
TOUCHED = "touched.parquet"  # the range's touched ids the record may hold: their rows go


@dataclass(frozen=True)
class FoldTask:
    """One bucket range of a planned update: everything its fold needs, as plain values."""

    plan_id: str
    first: int
    last: int
    staged: list[str]  # the range's staged new index rows (paths of staging_location)
    replaced: list[str]  # segments the range's new segments replace (paths of id_index.location)
    stale: list[str]  # of those, the ones holding rows of files no longer indexed
    # every current segment of the range's buckets -> its bucket and rows
    current: dict[str, tuple[int, int]]
    new_files: list[int]
    kept: str  # Parquet of the files indexed when planned (one for the whole plan)
    seq: int
    base: str
    new_rows: int

    @property
    def folder(self) -> str:
        return f"fold-{self.first:03d}-{self.last:03d}"


@dataclass(frozen=True)
class FoldResult:
    """What a fold wrote (`segments` None: it failed, for `problem`; the commit folds again)."""

    task: FoldTask
    segments: list[Segment] | None
    moved_days: list[date] = field(default_factory=list)
    problem: str | None = None


def new_plan_id() -> str:
    return uuid.uuid4().hex


def staging_location(settings: Settings) -> storage.Location:
    """The updates' working files, one folder per plan, beside the index (the fold steps
    read and write them on any worker)."""
    return settings.shared_work_location().child(STAGING)


def staging(settings: Settings, plan_id: str, *parts: str) -> str:
    """A path in a plan's staging folder."""
    return staging_location(settings).path(plan_id, *parts)


def _state(conn: duckdb.DuckDBPyConnection, new_files: list[int]) -> str:
    """A digest of what a fold's result depends on: the current segments, the indexed files
    and which of `new_files` are still in the manifest and not indexed."""
    names = sorted(s.name for s in id_index.segments(conn))
    indexed = sorted(r[0] for r in run_sql(conn, __file__, "index_indexed_files").fetchall())
    waiting = sorted(r[0] for r in run_sql(conn, __file__, "index_still_unindexed",
                                           file_ids=new_files or [-1]).fetchall())
    return hashlib.sha256(repr((names, indexed, waiting)).encode()).hexdigest()


def remove_spent(conn: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Delete unlisted segments and staging folders of every plan not in flight."""
    id_index.remove_orphans(conn, settings)
    in_flight = id_index.in_flight_plans(conn)
    where = staging_location(settings)
    for info in where.fs.get_file_info(pafs.FileSelector(where.root, allow_not_found=True)):
        if info.base_name not in in_flight:
            where.remove_folder(info.path)


def release(conn: duckdb.DuckDBPyConnection, settings: Settings, plan_id: str) -> None:
    """Forget a registered plan (its run ended without committing it): its segments and
    staged rows become orphans, removed now."""
    run_sql(conn, __file__, "index_plan_release", plan_id=plan_id)
    remove_spent(conn, settings)


def _stage_new_rows(
    conn: duckdb.DuckDBPyConnection, settings: Settings, plan_id: str,
    ready: list[tuple[int, str]],
) -> tuple[dict[int, list[str]], dict[int, int]]:
    """One streaming pass over the ready files' scanned rows (local to the warehouse host):
    their index rows, written to the plan's staging folder partitioned by bucket. Returns
    each bucket's staged files and rows."""
    if not ready:
        return {}, {}
    where = staging_location(settings)
    target = staging(settings, plan_id, "rows")
    # DuckDB writes local files: straight into place when staging is local, else to a local
    # folder uploaded whole (the folds are handed the files only after the plan).
    settings.work_root.mkdir(parents=True, exist_ok=True)
    local = Path(target) if where.is_local else Path(tempfile.mkdtemp(dir=settings.work_root))
    local.mkdir(parents=True, exist_ok=True)
    try:
        rows = conn.sql(load_sql(__file__, "index_stage"), params={
            "files": [path for _, path in ready],
            "file_ids": [file_id for file_id, _ in ready], "buckets": id_index.BUCKETS})
        # The relation API writes the files: the folder is a value, never spliced into SQL.
        rows.write_parquet(local.as_posix(), compression="lz4_raw", partition_by=["bucket"])
        staged: dict[int, list[str]] = {}
        counts: dict[int, int] = {}
        for part in sorted(local.glob("bucket=*/*.parquet")):
            bucket = int(part.parent.name.split("=")[1])
            staged.setdefault(bucket, []).append(
                where.path(plan_id, "rows", part.relative_to(local).as_posix()))
            counts[bucket] = counts.get(bucket, 0) + pq.ParquetFile(part).metadata.num_rows
        if not where.is_local:
            pafs.copy_files(local.as_posix(), target, source_filesystem=pafs.LocalFileSystem(),
                            destination_filesystem=where.fs)
        return staged, counts
    finally:
        if not where.is_local:
            shutil.rmtree(local, ignore_errors=True)


def _write_table(where: storage.Location, path: str, rows: pa.Table) -> str:
    """A small Parquet file of a plan or a fold, written whole (write_atomic); returns `path`."""
    where.write_atomic(path, lambda fs, target: pq.write_table(
        rows, target, filesystem=fs, compression="lz4"))
    return path


def _write_kept(conn: duckdb.DuckDBPyConnection, settings: Settings, plan_id: str) -> str:
    """The files indexed now, as one Parquet file every fold of the plan reads (a list in
    each task would repeat the whole manifest's ids in every step's input)."""
    return _write_table(staging_location(settings), staging(settings, plan_id, KEPT),
                        conn.sql(load_sql(__file__, "index_indexed_files")).to_arrow_table())


def plan(
    conn: duckdb.DuckDBPyConnection, settings: Settings, plan_id: str, register: bool
) -> list[FoldTask]:
    """The folds of an update of the index (none when there is nothing to fold); `register`:
    its folds run elsewhere, so keep what they write from orphan removal until the commit."""
    remove_spent(conn, settings)
    id_index.ensure_record(conn, settings)
    current = id_index.segments(conn)
    id_index.ensure_hashes(settings, current)
    ready = id_index.ready_files(conn, settings)
    indexed = {r[0] for r in run_sql(conn, __file__, "index_indexed_files").fetchall()}
    stale = {s.name for s in current if not set(s.file_ids) <= indexed}
    if not ready and not stale:
        return []
    new_files = [file_id for file_id, _ in ready]
    # What an earlier attempt of this plan left.
    staging_location(settings).remove_folder(staging(settings, plan_id))
    staged, per_bucket = _stage_new_rows(conn, settings, plan_id, ready)
    touched = sorted(set(per_bucket) | {s.bucket for s in current if s.name in stale})
    by_bucket = {b: [s for s in current if s.bucket == b] for b in touched}
    replaced = {b: id_index.folded(by_bucket[b], stale, per_bucket.get(b, 0)) for b in touched}
    held = {b: per_bucket.get(b, 0) + sum(s.rows for s in replaced[b]) for b in touched}
    where = id_index.location(settings)
    common = {"plan_id": plan_id, "new_files": new_files,
              "kept": _write_kept(conn, settings, plan_id),
              "seq": max((s.seq for s in current), default=0) + 1,
              "base": _state(conn, new_files)}
    tasks = []
    for first, last in id_index.bucket_ranges(held, settings.index_rows_per_fold
                                              or id_index.ROWS_PER_WRITE):
        buckets = [b for b in touched if first <= b <= last]
        out = [s for b in buckets for s in replaced[b]]
        tasks.append(FoldTask(
            first=first, last=last, staged=[f for b in buckets for f in staged.get(b, [])],
            replaced=[id_index.segment_path(where, s) for s in out],
            stale=[id_index.segment_path(where, s) for s in out if s.name in stale],
            current={id_index.segment_path(where, s): (b, s.rows)
                     for b in buckets for s in by_bucket[b]},
            new_rows=sum(per_bucket.get(b, 0) for b in buckets), **common))
    if register:
        run_sql(conn, __file__, "index_plan_register", plan_id=plan_id, at=clock.now())
    return tasks


def fold(settings: Settings, task: FoldTask) -> FoldResult:
    """Fold one bucket range (no warehouse); a failure is reported in the result, not
    raised: the commit then folds the range itself."""
    try:
        with scratch_connection(settings.duckdb_memory_limit) as conn:
            return _fold(conn, settings, task)
    except Exception as exc:  # the commit redoes it on the warehouse host
        problem = f"index fold {task.folder}: " + (" ".join(str(exc).split())
                                                   or type(exc).__name__)
        log.warning("%s; the warehouse step folds it", problem)
        return FoldResult(task, None, problem=problem)


def _fold(conn: duckdb.DuckDBPyConnection, settings: Settings, task: FoldTask) -> FoldResult:
    new_files = task.new_files or [-1]
    index, work = id_index.location(settings), staging_location(settings)
    kept = storage.register_parquet(conn, "index_kept_file", work, [task.kept])
    run_sql(conn, __file__, "index_kept_create", idents={"kept": kept})
    run_sql(conn, __file__, "index_new_create")
    if task.staged:
        staged = storage.register_parquet(conn, "index_staged", work, task.staged)
        run_sql(conn, __file__, "index_staged_insert", idents={"staged": staged})
    carried = id_index.register_segments(conn, index, task.replaced, "index_replaced")
    stale = id_index.register_segments(conn, index, task.stale, "index_stale")
    if task.replaced:
        run_sql(conn, __file__, "index_carried", idents={"carried": carried})
    if task.stale:
        run_sql(conn, __file__, "index_touched", idents={"carried": stale},
                new_files=new_files)
    else:
        run_sql(conn, __file__, "index_touched_added", new_files=new_files)
    other_copies(conn, index, task, "index_touched", "index_other_copies")
    run_sql(conn, __file__, "repeated_changes_create")
    run_sql(conn, __file__, "repeated_come", new_files=new_files)
    moved = sorted(r[0] for r in run_sql(conn, __file__, "index_moved_days").fetchall())
    recorded = (conn.sql(load_sql(__file__, "index_recorded_candidates",
                                  idents={"stale": stale}))
                if task.stale else conn.table("index_other_copies").select("event_id").distinct())
    for name, rows in ((RECORD_COME, conn.table("repeated_come")), (TOUCHED, recorded)):
        _write_table(work, staging(settings, task.plan_id, task.folder, name),
                     rows.to_arrow_table())
    rows = conn.sql(load_sql(__file__, "index_bucket_rows"), params={
        "buckets": id_index.BUCKETS, "first": task.first, "last": task.last})
    written = id_index.write_segments(index, rows.to_arrow_table(), task.seq, task.plan_id)
    return FoldResult(task, written, moved)


def other_copies(conn: duckdb.DuckDBPyConnection, index: storage.Location, task: FoldTask,
                 ids_table: str, target: str) -> str:
    """Fill temp table `target` with the rows, in the current segments of the range and of
    files indexed when planned, that share an event_id with `ids_table` (event_id, id_hash);
    reads only the buckets those ids fall in, their id_hash column first."""
    buckets = {r[0] for r in run_sql(conn, __file__, "index_buckets_of",
                                     idents={"ids": ids_table},
                                     buckets=id_index.BUCKETS).fetchall()}
    searched = {path: segment for path, segment in task.current.items()
                if segment[0] in buckets}
    hashes = id_index.matched_hashes(conn, index, searched, ids_table)
    if not hashes:
        run_sql(conn, __file__, "index_no_copies", idents={"target": target})
        return target
    view = id_index.register_segments(conn, index, list(searched), "index_searched")
    run_sql(conn, __file__, "index_fold_copies",
            idents={"ids": ids_table, "target": target, "segments": view},
            hashes=hashes if len(hashes) <= id_index.LITERAL_HASHES_MAX else None)
    return target


def _usable(settings: Settings, result: FoldResult) -> bool:
    """Whether a fold's output is all there (its segments, unless removed since, and its
    record changes)."""
    if result.segments is None:
        return False
    index, work = id_index.location(settings), staging_location(settings)
    needed = [staging(settings, result.task.plan_id, result.task.folder, name)
              for name in (RECORD_COME, TOUCHED)]
    needed += [id_index.segment_path(index, s) for s in result.segments]
    return all(info.type == pafs.FileType.File for info in work.fs.get_file_info(needed))


def commit(conn: duckdb.DuckDBPyConnection, settings: Settings, results: list[FoldResult],
           result: Touched) -> int:
    """Swap in the folds' segments and apply their record changes in one transaction (see the
    module docstring for what is redone here); returns the rows newly indexed."""
    if not results:
        return 0
    plan_id = results[0].task.plan_id
    if _state(conn, results[0].task.new_files) != results[0].task.base:
        log.info("index plan %s: the index changed since it was planned; updating here",
                 plan_id)
        release(conn, settings, plan_id)
        return update(conn, settings, result)
    done = [r if _usable(settings, r) else fold(settings, r.task) for r in results]
    for failed in (r for r in done if r.segments is None):
        raise RuntimeError(failed.problem)
    work = staging_location(settings)
    folders = [staging(settings, plan_id, r.task.folder) for r in done]
    touched = storage.register_parquet(conn, "index_fold_touched", work,
                                       [f"{f}/{TOUCHED}" for f in folders])
    come = storage.register_parquet(conn, "index_fold_come", work,
                                    [f"{f}/{RECORD_COME}" for f in folders])
    moved = {day for r in done for day in r.moved_days}
    fault_point("before_index_commit")
    with transaction(conn):
        run_sql(conn, __file__, "index_segments_forget",
                names=[uri.rsplit("/", 1)[-1] for r in done for uri in r.task.replaced] or [""])
        for s in (s for r in done for s in r.segments or []):
            run_sql(conn, __file__, "index_segment_insert", bucket=s.bucket, segment=s.name,
                    seq=s.seq, rows=s.rows, file_ids=list(s.file_ids))
        run_sql(conn, __file__, "index_mark_indexed", file_ids=results[0].task.new_files or [-1])
        run_sql(conn, __file__, "repeated_apply", idents={"touched": touched})
        run_sql(conn, __file__, "repeated_add", idents={"come": come})
        intents.record(conn, [intents.EVENTS], moved, "winner_moved")
        run_sql(conn, __file__, "index_plan_release", plan_id=plan_id)
    fault_point("after_index_commit")
    for view in (touched, come):  # their files go with the plan
        conn.unregister(view)
    result.rebuild_days |= moved
    result.days_touched |= moved
    remove_spent(conn, settings)
    return sum(r.task.new_rows for r in done)


def update(conn: duckdb.DuckDBPyConnection, settings: Settings, result: Touched) -> int:
    """Fold every scanned-but-unindexed manifest file into the index and drop the rows of
    files the manifest no longer indexes, in this process; record (durably, in the same
    commit) the days holding another copy of an id whose copies changed, and those ids'
    copies in the record of repeated ids. Returns the rows newly indexed.

    Linear in the rows it folds, in bounded memory: one pass stages the new rows by bucket,
    then each range of about `index_rows_per_fold` rows' buckets is gathered, searched for
    other copies, sorted and written on its own."""
    tasks = plan(conn, settings, new_plan_id(), register=False)
    if not tasks:
        remove_spent(conn, settings)
        return 0
    return commit(conn, settings, [fold(settings, task) for task in tasks], result)
