"""The all-time event id index, partitioned by a stable hash bucket of `event_id`.

Every valid landed row has one index row (id_hash, event_id, day, file_id, source_row); the
rows' content is not indexed (the build compares the few copies of repeated ids from their
scanned rows, see sql/copy_outcomes.sql). They live in Parquet segment files beside the
curated data, one folder per bucket: `<curated>/_index/bucket=NNN/<seq>-<random>.parquet`,
each with its sorted id hashes beside it as raw little-endian 64-bit integers
(`<segment>.hashes`, 8 bytes a row: see matched_hashes).
The bucket of an id is `id_hash % BUCKETS`, where id_hash is `md5_number_lower(event_id)` (the
low 64 bits of the MD5 digest, little-endian), computed once by the scan and carried by the
scanned rows: MD5 (RFC 1321) gives the same value on every DuckDB version and machine,
unlike `hash()`. A lookup reads only the segments of the buckets its ids fall in, first which
of its hashes occur there (a binary search of each segment's `.hashes` file, mapped, not
decoded), then the full rows of the hashes that matched. A segment written before the
`.hashes` files is searched by reading its id_hash column (stored plain and uncompressed;
older ones zstd) until a fold rewrites it. Files go
through `usage_model.storage`, so the same code writes to S3.

Which segments are current is said by the warehouse alone (`usage_index_segments`), and which
manifest files they hold by `usage_files.indexed`. A scan commits a file's manifest entry
with `indexed` unset; `update` then folds every such file into the index: it writes new
segments (a temporary name, then a rename; a whole object on S3), and one transaction swaps
them in, marks the files indexed and records the days whose winner may have moved. A crash
before that commit leaves unlisted segment files (removed as orphans) and unindexed files
(indexed by the next `update`); a crash after it leaves replaced segments behind (removed the
same way). Readers join `usage_files` on `indexed`, so rows of a file forgotten or rescanned
since the last update are never seen. Segment files carry the id of the plan that wrote them
(`<seq>-<plan>-<random>.parquet`): orphan removal spares those of a plan still in flight
(`usage_index_plans`), whose folds may be writing on another worker right now.

An update is linear in the rows it folds and holds a bounded part of them at once: one
streaming pass writes the new rows, partitioned by bucket, to a local staging folder; then
each range of buckets holding about ROWS_PER_WRITE rows (CITY_USAGE_INDEX_ROWS_PER_FOLD;
new and carried) is gathered, searched for other copies of its ids, sorted and written on
its own: a plan, one fold per range and a commit (index_folds.py), so that in distributed
mode the folds run as steps on any worker.

The update also keeps, in the same commit, the record of repeated ids (`usage_repeated_ids`):
every index row of each id with more than one copy. Each bucket range's touched ids are
recorded anew from their copies found above and the new rows, so a build finds the copies of
its ids on other days there (`recorded_copies`) without reading any segment. A warehouse
without the record (from before it) gets it from the segments on the next update.

Each update appends at most one segment per touched bucket, folding in the newest segments
while they are no larger than what it writes (a binary counter), up to SEGMENT_ROWS_MAX
rows: a segment that big is never folded again (unless rows leave it). Without the cap a row
would be rewritten once per level of the counter, log2(history / new day) times, so a new
day's amortized cost would grow with history; with it, a row is rewritten at most
log2(SEGMENT_ROWS_MAX / its day's rows per bucket) times, and a bucket holds about
history / SEGMENT_ROWS_MAX full segments plus O(log) small ones (every lookup reads all of
them anyway, so their number costs little beyond opening them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from usage_model import storage
from usage_model.config import Settings
from usage_model.faults import fault_point
from usage_model.sql import load_sql, run_sql
from usage_model.usage import scanned
from usage_model.usage.batching import bounded_runs
from usage_model.warehouse import transaction

# Changing this re-buckets nothing already written: keep it fixed for a warehouse's life.
BUCKETS = 64
FOLDER = "_index"
HASHES = ".hashes"  # a segment's sorted id hashes, raw (see matched_hashes)
_HASH_DTYPE = np.dtype("<u8")
# Above this many matched hashes a literal list stops paying (bulk copies): join on ids only.
LITERAL_HASHES_MAX = 2000
WRITERS = 4  # segment files written at once (pyarrow releases the GIL while it encodes)
# Index rows sorted and held as Arrow at once by one fold (Settings.index_rows_per_fold unset).
ROWS_PER_WRITE = 1_000_000
# A segment with this many rows is full: folds stop at it (2 MB of hashes; 77M index rows in
# 64 buckets make ~5 full segments a bucket).
SEGMENT_ROWS_MAX = 262_144
# The columns of a segment file.
SEGMENT_SCHEMA = pa.schema([("id_hash", pa.uint64()), ("event_id", pa.string()),
                            ("day", pa.date32()), ("file_id", pa.int64()),
                            ("source_row", pa.int64())])


class Touched(Protocol):
    """What an update reports to (a ScanResult): the days it obliges to rebuild."""

    days_touched: set[date]
    rebuild_days: set[date]


@dataclass(frozen=True)
class Segment:
    bucket: int
    name: str
    seq: int
    rows: int
    file_ids: tuple[int, ...]


def location(settings: Settings) -> storage.Location:
    """Where the index is: beside the curated data when that is on S3, so that the update's
    folds run on any worker (Settings.shared_work_location)."""
    return settings.shared_work_location().child(FOLDER)


def bucket_folder(bucket: int) -> str:
    return f"bucket={bucket:03d}"


def segment_path(where: storage.Location, segment: Segment) -> str:
    """The segment's path on `where`'s filesystem."""
    return where.path(bucket_folder(segment.bucket), segment.name)


def register_segments(conn: duckdb.DuckDBPyConnection, where: storage.Location,
                      paths: list[str], name: str) -> str:
    """A session-only view `name` over the index rows of the segment files `paths` (of
    `where`), for statements that read them as `{{name}}`; returns `name`."""
    return storage.register_parquet(conn, name, where, paths, SEGMENT_SCHEMA)


def segments(conn: duckdb.DuckDBPyConnection) -> list[Segment]:
    """The current segments, oldest first."""
    rows = run_sql(conn, __file__, "index_segments").fetchall()
    return [Segment(b, name, seq, n, tuple(ids)) for b, name, seq, n, ids in rows]


def segment_paths(
    conn: duckdb.DuckDBPyConnection, settings: Settings, buckets: Iterable[int] | None = None
) -> list[str]:
    """Where the current segments are (of `buckets` only, when given): paths of `location`."""
    wanted = None if buckets is None else set(buckets)
    where = location(settings)
    return [segment_path(where, s) for s in segments(conn)
            if wanted is None or s.bucket in wanted]


def plan_tag(name: str) -> str | None:
    """The plan that wrote segment file `name` (`<seq>-<plan>-<random>.parquet`, or the
    temporary `.tmp-<random>-<that>` of one being written); None for a segment named before
    plans were (`<seq>-<random>.parquet`)."""
    if name.startswith(storage.TEMPORARY_PREFIX):
        name = name.removeprefix(storage.TEMPORARY_PREFIX).split("-", 1)[-1]
    parts = name.removesuffix(HASHES).removesuffix(".parquet").split("-")
    return parts[1] if len(parts) == 3 else None


def in_flight_plans(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """Plans whose folds may still be writing (registered by index_folds.plan, released by
    their commit or once their run has ended)."""
    return {r[0] for r in run_sql(conn, __file__, "index_plans").fetchall()}


def remove_orphans(conn: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Delete segment files the warehouse does not list (an update that died before its
    commit, or segments an update replaced), except those a plan still in flight wrote (its
    folds may run on other workers right now); returns how many."""
    where = location(settings)
    listed = {path + suffix for s in segments(conn) for path in [segment_path(where, s)]
              for suffix in ("", HASHES)}
    spared = in_flight_plans(conn)
    try:
        found = where.fs.get_file_info(pafs.FileSelector(where.root, recursive=True))
    except FileNotFoundError:
        return 0
    removed = 0
    for info in found:
        if (info.type == pafs.FileType.File and info.path not in listed
                and plan_tag(info.base_name) not in spared):
            where.fs.delete_file(info.path)
            removed += 1
    return removed


def matched_hashes(
    conn: duckdb.DuckDBPyConnection, where: storage.Location,
    segments: Mapping[str, tuple[int, int]], ids_table: str,
) -> list[int]:
    """Phase one of a lookup: which id hashes of `ids_table` occur in `segments` (each
    segment's path on `where` -> its bucket and rows, as the warehouse lists them).

    Each segment's `.hashes` file (its id hashes, sorted) is binary-searched for the probe
    hashes of its bucket: locally it is mapped, so only the pages the searches touch are
    read and nothing is decoded, and the cost is about the probes', not the history's; on S3
    it is fetched whole (one GET, 8 bytes a row). A segment without one (written before
    them) is searched by DuckDB reading its id_hash column whole."""
    if not segments:
        return []
    probes = run_sql(conn, __file__, "index_probe_hashes", idents={"ids": ids_table})
    probes = np.asarray(probes.fetchnumpy()["id_hash"], dtype=np.uint64)
    by_bucket = _split_by_bucket(probes)
    matched: set[int] = set()
    unsearched = []
    for path, (bucket, rows) in segments.items():
        hashes = _segment_hashes(where, path, rows)
        if hashes is None:
            unsearched.append(path)
            continue
        wanted = by_bucket.get(bucket)
        if wanted is not None and len(hashes):
            at = np.minimum(np.searchsorted(hashes, wanted), len(hashes) - 1)
            matched.update(wanted[hashes[at] == wanted].tolist())
    if unsearched:
        view = register_segments(conn, where, unsearched, "index_unsearched")
        matched.update(r[0] for r in run_sql(conn, __file__, "index_matched_hashes",
                                              idents={"ids": ids_table, "segments": view}
                                              ).fetchall())
    return sorted(matched)


def _split_by_bucket(probes: np.ndarray) -> dict[int, np.ndarray]:
    """Sorted probe hashes by bucket (each part stays sorted)."""
    buckets = probes % np.uint64(BUCKETS)
    order = np.argsort(buckets, kind="stable")
    ordered, keys = probes[order], buckets[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else []
    ends = [*starts[1:], len(keys)]
    return {int(keys[a]): ordered[a:b] for a, b in zip(starts, ends, strict=True)}


def _segment_hashes(where: storage.Location, segment: str, rows: int) -> np.ndarray | None:
    """A segment's sorted hashes (memory-mapped when local, fetched whole from S3); None
    without a `.hashes` file, or with one that does not hold 8 bytes for each of the
    segment's `rows`: a wrong file would hide copies, so the segment's own column is read
    instead."""
    expected = rows * _HASH_DTYPE.itemsize
    if where.is_local:
        path = Path(segment + HASHES)
        if not path.is_file() or path.stat().st_size != expected:
            return None
        if expected == 0:
            return np.empty(0, dtype=_HASH_DTYPE)
        return np.memmap(path, dtype=_HASH_DTYPE, mode="r")
    try:
        data = where.read_bytes(segment + HASHES)
    except FileNotFoundError:
        return None
    return np.frombuffer(data, dtype=_HASH_DTYPE) if len(data) == expected else None


def recorded_copies(
    conn: duckdb.DuckDBPyConnection, ids_table: str, target: str, exclude_days: Iterable[date]
) -> str:
    """Fill temp table `target` (as find_copies does) with the copies, on days other than
    `exclude_days`, of the ids of `ids_table` that have more than one copy in the index: from
    the record of repeated ids the updates keep, without reading any segment. Complete once
    `update` has run: every file the manifest has indexed is in the record."""
    run_sql(conn, __file__, "repeated_copies", idents={"ids": ids_table, "target": target},
            exclude_days=sorted(set(exclude_days)))
    return target


def _has_record(conn: duckdb.DuckDBPyConnection) -> bool:
    return run_sql(conn, __file__, "repeated_exists").fetchone()[0] > 0


def ensure_record(conn: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Create the record of repeated ids when the warehouse has none (one from before it),
    filled from the current segments a bucket at a time, in one commit: a crash on the way
    leaves no table, so the next update starts again."""
    if _has_record(conn):
        return
    paths: dict[int, list[str]] = {}
    where = location(settings)
    for segment in segments(conn):
        paths.setdefault(segment.bucket, []).append(segment_path(where, segment))
    with transaction(conn):
        run_sql(conn, __file__, "repeated_create")
        for bucket in sorted(paths):
            view = register_segments(conn, where, paths[bucket], "index_bucket_segments")
            run_sql(conn, __file__, "repeated_fill", idents={"segments": view})
        fault_point("before_record_commit")


def ready_files(
    conn: duckdb.DuckDBPyConnection, settings: Settings
) -> list[tuple[int, str]]:
    """Manifest files not yet indexed whose scanned rows are all there, with those rows'
    location (a file whose scanned rows are missing is scanned again by the build first)."""
    ready = []
    for file_id, fp, rows_valid in run_sql(conn, __file__, "index_unindexed_files").fetchall():
        path = scanned.path_of(settings, file_id, fp or "")
        if scanned.holds(path, rows_valid):
            ready.append((file_id, path.as_posix()))
    return ready


def folded(bucket_segments: list[Segment], stale: set[str], new_rows: int) -> list[Segment]:
    """The segments of one bucket the new segment replaces: every stale one, and the newest
    others while each is no larger than the rows gathered so far and not full."""
    chosen = [s for s in bucket_segments if s.name in stale]
    total = new_rows + sum(s.rows for s in chosen)
    for segment in reversed([s for s in bucket_segments if s.name not in stale]):
        if segment.rows > total or segment.rows >= SEGMENT_ROWS_MAX:
            break
        chosen.append(segment)
        total += segment.rows
    return chosen


def bucket_ranges(rows_per_bucket: dict[int, int], rows_per_range: int) -> list[tuple[int, int]]:
    """Consecutive ranges of the buckets in `rows_per_bucket`, each holding about
    `rows_per_range` rows (a bucket bigger than that alone), so what one fold holds and sorts
    at once stays bounded however big the update is."""
    runs = bounded_runs(sorted(rows_per_bucket.items()), rows_per_range)
    return [(run[0], run[-1]) for run in runs]


def write_segments(where: storage.Location, rows: pa.Table, seq: int, tag: str) -> list[Segment]:
    """One new segment per bucket present in `rows` (sorted by bucket, then hash), named
    `<seq>-<tag>-<random>.parquet`: `tag` is the plan that writes it (see remove_orphans)."""
    if rows.num_rows == 0:
        return []
    buckets = rows.column("bucket").to_numpy()
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = [*starts[1:], len(buckets)]
    segments_out, jobs = [], []
    for start, end in zip(starts, ends, strict=True):
        part = rows.slice(start, end - start).drop_columns(["bucket"])
        bucket = int(buckets[start])
        segment = Segment(bucket, f"{seq:09d}-{tag}-{uuid.uuid4().hex[:12]}.parquet", seq,
                          part.num_rows,
                          tuple(sorted(set(part.column("file_id").to_pylist()))))
        segments_out.append(segment)
        jobs.append((where.path(bucket_folder(bucket), segment.name), part))
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(lambda job: _write_segment(where, *job), jobs))
    return segments_out


def ensure_hashes(settings: Settings, current: list[Segment]) -> int:
    """Write the `.hashes` file of every current segment that has none (written before them,
    or its file lost): once, so that full segments, never folded again, are searched
    cheaply too. Returns how many were written."""
    where = location(settings)
    # One listing (on S3 a LIST a thousand objects, not a HEAD per segment).
    found = {info.path for info in where.fs.get_file_info(
        pafs.FileSelector(where.root, recursive=True, allow_not_found=True))}
    written = 0
    for path in (segment_path(where, s) for s in current):
        if path + HASHES not in found:
            column = pq.read_table(path, columns=["id_hash"], filesystem=where.fs)["id_hash"]
            where.write_bytes(path + HASHES, column.to_numpy().astype(_HASH_DTYPE).tobytes())
            written += 1
    return written


def _write_segment(where: storage.Location, path: str, rows: pa.Table) -> None:
    """A segment file and its `.hashes` file (rows sorted by id_hash), each written whole;
    neither is read before the warehouse lists the segment."""
    hashes = rows.column("id_hash").to_numpy().astype(_HASH_DTYPE, copy=False)
    where.write_bytes(path + HASHES, hashes.tobytes())
    where.write_atomic(path, lambda fs, target: pq.write_table(
        rows, target, filesystem=fs, row_group_size=65536,
        **_segment_encoding(rows.column_names)))


def _segment_encoding(columns: list[str]) -> dict:
    """How a segment's columns are stored. id_hash, read whole by every lookup, is plain and
    uncompressed: random 64-bit hashes gain ~4% from zstd and nothing from a dictionary, and
    decoding those costs ~4x a plain read. The other columns: zstd, dictionary when it pays."""
    return {"compression": {c: "none" if c == "id_hash" else "zstd" for c in columns},
            "use_dictionary": [c for c in columns if c != "id_hash"]}


def update(conn: duckdb.DuckDBPyConnection, settings: Settings, result: Touched) -> int:
    """Fold every scanned-but-unindexed manifest file into the index and drop the rows of
    files the manifest no longer indexes, here and now (index_folds.update: plan, fold each
    bucket range, commit); returns the rows newly indexed."""
    # Imported here: index_folds builds on this module's segments.
    from usage_model.usage import index_folds

    return index_folds.update(conn, settings, result)


def install_view(conn: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """A temp view `usage_event_index` over the current index (for inspection and tests)."""
    view = register_segments(conn, location(settings), segment_paths(conn, settings),
                             "index_segments_view")
    # Registered (a session-only view), since a stored view cannot hold the segment list.
    conn.register("usage_event_index",
                  conn.sql(load_sql(__file__, "index_view", idents={"segments": view})))
