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
since the last update are never seen.

An update is linear in the rows it folds and holds a bounded part of them at once: one
streaming pass writes the new rows, partitioned by bucket, to a local staging folder; then
each range of buckets holding about ROWS_PER_WRITE rows (new and carried) is gathered,
searched for other copies of its ids, sorted and written on its own.

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

import shutil
import uuid
from collections.abc import Iterable
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
from usage_model.usage import intents, scanned
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
ROWS_PER_WRITE = 1_000_000  # index rows sorted and held as Arrow at once by an update
# A segment with this many rows is full: folds stop at it (2 MB of hashes; 77M index rows in
# 64 buckets make ~5 full segments a bucket).
SEGMENT_ROWS_MAX = 262_144


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
    return storage.location(settings.work_root / FOLDER)


def _bucket_folder(bucket: int) -> str:
    return f"bucket={bucket:03d}"


def _uri(where: storage.Location, segment: Segment) -> str:
    path = where.path(_bucket_folder(segment.bucket), segment.name)
    return path if where.is_local else "s3://" + path


def segments(conn: duckdb.DuckDBPyConnection) -> list[Segment]:
    """The current segments, oldest first."""
    rows = run_sql(conn, __file__, "index_segments").fetchall()
    return [Segment(b, name, seq, n, tuple(ids)) for b, name, seq, n, ids in rows]


def segment_uris(
    conn: duckdb.DuckDBPyConnection, settings: Settings, buckets: Iterable[int] | None = None
) -> list[str]:
    """Where the current segments are (of `buckets` only, when given)."""
    wanted = None if buckets is None else set(buckets)
    where = location(settings)
    return [_uri(where, s) for s in segments(conn) if wanted is None or s.bucket in wanted]


def remove_orphans(conn: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Delete segment files the warehouse does not list (an update that died before its
    commit, or segments an update replaced); returns how many."""
    where = location(settings)
    listed = {uri + suffix for s in segments(conn) for uri in [_uri(where, s)]
              for suffix in ("", HASHES)}
    try:
        found = where.fs.get_file_info(pafs.FileSelector(where.root, recursive=True))
    except FileNotFoundError:
        return 0
    removed = 0
    for info in found:
        uri = info.path if where.is_local else "s3://" + info.path
        if info.type == pafs.FileType.File and uri not in listed:
            where.fs.delete_file(info.path)
            removed += 1
    return removed


def matched_hashes(
    conn: duckdb.DuckDBPyConnection, uris: list[str], ids_table: str
) -> list[int]:
    """Phase one of a lookup: which id hashes of `ids_table` occur in the segments `uris`.

    Each segment's `.hashes` file (its id hashes, sorted) is mapped and binary-searched for
    the probe hashes of its bucket: the pages the searches touch are read, nothing is
    decoded, so the cost is about the probes', not the history's. A segment without one
    (written before them) is searched by DuckDB reading its id_hash column whole."""
    if not uris:
        return []
    probes = run_sql(conn, __file__, "index_probe_hashes", idents={"ids": ids_table})
    probes = np.asarray(probes.fetchnumpy()["id_hash"], dtype=np.uint64)
    by_bucket = _split_by_bucket(probes)
    matched: set[int] = set()
    unsearched = []
    for uri in uris:
        hashes = _mapped_hashes(uri)
        if hashes is None:
            unsearched.append(uri)
            continue
        wanted = by_bucket.get(_bucket_of(uri))
        if wanted is not None and len(hashes):
            at = np.minimum(np.searchsorted(hashes, wanted), len(hashes) - 1)
            matched.update(wanted[hashes[at] == wanted].tolist())
    if unsearched:
        matched.update(r[0] for r in run_sql(conn, __file__, "index_matched_hashes",
                                              idents={"ids": ids_table},
                                              segments=unsearched).fetchall())
    return sorted(matched)


def _split_by_bucket(probes: np.ndarray) -> dict[int, np.ndarray]:
    """Sorted probe hashes by bucket (each part stays sorted)."""
    buckets = probes % np.uint64(BUCKETS)
    order = np.argsort(buckets, kind="stable")
    ordered, keys = probes[order], buckets[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else []
    ends = [*starts[1:], len(keys)]
    return {int(keys[a]): ordered[a:b] for a, b in zip(starts, ends, strict=True)}


def _bucket_of(uri: str) -> int:
    """The bucket of a segment from its folder name (`bucket=NNN`, _bucket_folder)."""
    return int(uri.rsplit("/", 2)[-2].split("=")[1])


def _mapped_hashes(uri: str) -> np.ndarray | None:
    """A local segment's sorted hashes, memory-mapped; None without a `.hashes` file."""
    path = Path(uri + HASHES)
    if not path.is_file():
        return None
    if path.stat().st_size == 0:
        return np.empty(0, dtype=_HASH_DTYPE)
    return np.memmap(path, dtype=_HASH_DTYPE, mode="r")


def find_copies(
    conn: duckdb.DuckDBPyConnection, settings: Settings, ids_table: str, target: str
) -> str:
    """Fill temp table `target` (event_id, id_hash, path, source_row, day, file_id) with
    the index rows sharing an event_id with `ids_table` (event_id and id_hash columns);
    reads only the buckets those ids fall in."""
    buckets = [
        r[0]
        for r in run_sql(conn, __file__, "index_buckets_of", idents={"ids": ids_table},
                         buckets=BUCKETS).fetchall()
    ]
    uris = segment_uris(conn, settings, buckets)
    hashes = matched_hashes(conn, uris, ids_table)
    if not hashes:
        run_sql(conn, __file__, "index_no_copies", idents={"target": target})
        return target
    run_sql(conn, __file__, "index_copies", idents={"ids": ids_table, "target": target},
            segments=uris, hashes=hashes if len(hashes) <= LITERAL_HASHES_MAX else None)
    return target


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


def _ensure_record(conn: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Create the record of repeated ids when the warehouse has none (one from before it),
    filled from the current segments a bucket at a time, in one commit: a crash on the way
    leaves no table, so the next update starts again."""
    if _has_record(conn):
        return
    uris: dict[int, list[str]] = {}
    where = location(settings)
    for segment in segments(conn):
        uris.setdefault(segment.bucket, []).append(_uri(where, segment))
    with transaction(conn):
        run_sql(conn, __file__, "repeated_create")
        for bucket in sorted(uris):
            run_sql(conn, __file__, "repeated_fill", segments=uris[bucket])
        fault_point("before_record_commit")


def _ready_files(
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


def _folded(bucket_segments: list[Segment], stale: set[str], new_rows: int) -> list[Segment]:
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


def _bucket_ranges(rows_per_bucket: dict[int, int]) -> list[tuple[int, int]]:
    """Consecutive ranges of the buckets in `rows_per_bucket`, each holding about
    ROWS_PER_WRITE rows (a bucket bigger than that alone), so what an update holds and sorts
    at once stays bounded however big it is."""
    runs = bounded_runs(sorted(rows_per_bucket.items()), ROWS_PER_WRITE)
    return [(run[0], run[-1]) for run in runs]


def _write_segments(where: storage.Location, rows: pa.Table, seq: int) -> list[Segment]:
    """One new segment per bucket present in `rows` (sorted by bucket, then hash)."""
    if rows.num_rows == 0:
        return []
    buckets = rows.column("bucket").to_numpy()
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = [*starts[1:], len(buckets)]
    segments_out, jobs = [], []
    for start, end in zip(starts, ends, strict=True):
        part = rows.slice(start, end - start).drop_columns(["bucket"])
        bucket = int(buckets[start])
        segment = Segment(bucket, f"{seq:09d}-{uuid.uuid4().hex[:12]}.parquet", seq,
                          part.num_rows,
                          tuple(sorted(set(part.column("file_id").to_pylist()))))
        segments_out.append(segment)
        jobs.append((where.path(_bucket_folder(bucket), segment.name), part))
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(lambda job: _write_segment(where, *job), jobs))
    return segments_out


def _ensure_hashes(settings: Settings, current: list[Segment]) -> int:
    """Write the `.hashes` file of every current segment that has none (written before them,
    or its file lost): once, so that full segments, never folded again, are searched
    cheaply too. Returns how many were written."""
    where = location(settings)
    written = 0
    for segment in current:
        path = where.path(_bucket_folder(segment.bucket), segment.name)
        if where.is_local and not Path(path + HASHES).is_file():
            column = pq.read_table(path, columns=["id_hash"])["id_hash"].to_numpy()
            where.write_bytes(path + HASHES, column.astype(_HASH_DTYPE).tobytes())
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


def _staging(settings: Settings) -> Path:
    # Local working files of one update (the scanned rows it reads are local too).
    return settings.work_root / "_index_staging"


def _stage_new_rows(
    conn: duckdb.DuckDBPyConnection, settings: Settings, ready: list[tuple[int, str]]
) -> dict[int, list[str]]:
    """One streaming pass over the ready files' scanned rows: their index rows, written to the
    staging folder partitioned by bucket. Returns each bucket's staged files."""
    folder = _staging(settings)
    shutil.rmtree(folder, ignore_errors=True)
    if not ready:
        return {}
    folder.mkdir(parents=True)
    rows = conn.sql(load_sql(__file__, "index_stage"), params={
        "files": [path for _, path in ready], "file_ids": [file_id for file_id, _ in ready],
        "buckets": BUCKETS})
    # The relation API writes the files: the folder is a value, never spliced into SQL.
    rows.write_parquet(folder.as_posix(), compression="lz4_raw", partition_by=["bucket"])
    staged: dict[int, list[str]] = {}
    for part in sorted(folder.glob("bucket=*/*.parquet")):
        staged.setdefault(int(part.parent.name.split("=")[1]), []).append(part.as_posix())
    return staged


def _staged_rows(staged: dict[int, list[str]]) -> dict[int, int]:
    return {bucket: sum(pq.ParquetFile(f).metadata.num_rows for f in files)
            for bucket, files in staged.items()}


def _fold_range(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    staged: list[str],
    replaced: list[str],
    stale: list[str],
    new_files: list[int],
    kept: list[int],
) -> set[date]:
    """Gather one bucket range's rows into temp table index_new (its staged new rows and the
    kept rows of the segments it replaces), and return the days holding another copy of an
    id of the range whose copies change (looked up before anything changes: the current
    segments with the files indexed so far are exactly the copies that were already there)."""
    run_sql(conn, __file__, "index_new_create")
    if staged:
        run_sql(conn, __file__, "index_staged_insert", staged=staged)
    if replaced:
        run_sql(conn, __file__, "index_carried", carried=replaced, kept_files=kept)
    if stale:
        run_sql(conn, __file__, "index_touched", new_files=new_files or [-1], carried=stale,
                kept_files=kept)
    else:
        run_sql(conn, __file__, "index_touched_added", new_files=new_files or [-1])
    find_copies(conn, settings, "index_touched", "index_other_copies")
    run_sql(conn, __file__, "repeated_gone")
    run_sql(conn, __file__, "repeated_come", new_files=new_files or [-1])
    return {r[0] for r in run_sql(conn, __file__, "index_moved_days").fetchall()}


def update(conn: duckdb.DuckDBPyConnection, settings: Settings, result: Touched) -> int:
    """Fold every scanned-but-unindexed manifest file into the index and drop the rows of
    files the manifest no longer indexes; record (durably, in the same commit) the days
    holding another copy of an id whose copies changed, and those ids' copies in the record
    of repeated ids. Returns the rows newly indexed.

    Linear in the rows it folds, in bounded memory: one pass stages the new rows by bucket,
    then each range of about ROWS_PER_WRITE rows' buckets is gathered, searched for other
    copies, sorted and written on its own."""
    remove_orphans(conn, settings)
    _ensure_record(conn, settings)
    _ensure_hashes(settings, segments(conn))
    ready = _ready_files(conn, settings)
    indexed = {r[0] for r in run_sql(conn, __file__, "index_indexed_files").fetchall()}
    current = segments(conn)
    stale = {s.name for s in current if not set(s.file_ids) <= indexed}
    if not ready and not stale:
        shutil.rmtree(_staging(settings), ignore_errors=True)
        return 0
    new_files = [file_id for file_id, _ in ready]
    kept = sorted(indexed) or [-1]
    where = location(settings)
    staged = _stage_new_rows(conn, settings, ready)
    per_bucket = _staged_rows(staged)
    touched = sorted(set(per_bucket) | {s.bucket for s in current if s.name in stale})
    replaced = {bucket: _folded([s for s in current if s.bucket == bucket], stale,
                                per_bucket.get(bucket, 0)) for bucket in touched}
    held = {b: per_bucket.get(b, 0) + sum(s.rows for s in replaced[b]) for b in touched}
    next_seq = max((s.seq for s in current), default=0) + 1
    run_sql(conn, __file__, "repeated_changes_create")
    moved: set[date] = set()
    written: list[Segment] = []
    for first, last in _bucket_ranges(held):
        buckets = range(first, last + 1)
        moved |= _fold_range(
            conn, settings, [f for b in buckets for f in staged.get(b, [])],
            [_uri(where, s) for b in buckets for s in replaced.get(b, [])],
            [_uri(where, s) for b in buckets for s in replaced.get(b, []) if s.name in stale],
            new_files, kept)
        rows = conn.sql(load_sql(__file__, "index_bucket_rows"),
                        params={"buckets": BUCKETS, "first": first, "last": last})
        written += _write_segments(where, rows.to_arrow_table(), next_seq)
    fault_point("before_index_commit")
    with transaction(conn):
        run_sql(conn, __file__, "index_segments_forget",
                names=[s.name for b in touched for s in replaced[b]] or [""])
        for s in written:
            run_sql(conn, __file__, "index_segment_insert", bucket=s.bucket, segment=s.name,
                    seq=s.seq, rows=s.rows, file_ids=list(s.file_ids))
        run_sql(conn, __file__, "index_mark_indexed", file_ids=new_files or [-1])
        run_sql(conn, __file__, "repeated_apply")
        intents.record(conn, [intents.EVENTS], moved, "winner_moved")
    fault_point("after_index_commit")
    result.rebuild_days |= moved
    result.days_touched |= moved
    remove_orphans(conn, settings)
    shutil.rmtree(_staging(settings), ignore_errors=True)
    for name in ("index_new", "index_touched", "index_other_copies", "repeated_gone",
                 "repeated_come"):
        run_sql(conn, __file__, "drop_table", idents={"table": name})
    return sum(per_bucket.values())


def install_view(conn: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """A temp view `usage_event_index` over the current index (for inspection and tests)."""
    uris = segment_uris(conn, settings)
    # Registered (a session-only view), since a stored view cannot hold the segment list.
    name = "index_view" if uris else "index_view_empty"
    conn.register("usage_event_index", conn.sql(load_sql(__file__, name),
                                                params={"segments": uris} if uris else None))
