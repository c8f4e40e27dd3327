"""The per-file part of the scan: read one landed file, validate and normalize its rows, write
its valid rows to a temporary scanned file, and return what the warehouse must record.

`read_file` touches no warehouse table: it runs in the pipeline's own connection (one file
after another) or, with `CITY_USAGE_SCAN_WORKERS` above 1, in worker processes, each with its
own in-memory DuckDB (`file_scans`). The caller records each `FileScan` in the warehouse in
landing order, one transaction per file (ingest.scan_landing), so the manifest, quarantine
and index come out the same either way.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from usage_model import config
from usage_model.faults import fault_point
from usage_model.sql import load_sql, run_sql
from usage_model.usage import scanned
from usage_model.usage.landing import LandedFile, LandedSource, open_landed
from usage_model.usage.normalize import (
    FileRejection,
    PreparedFile,
    UnreadablePart,
    landed_batches,
    normalize_params,
    normalize_sql,
    open_parquet,
    prepare,
    raw_json_sql,
)
from usage_model.warehouse import fetch_one

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanJob:
    """What reading one file needs (picklable: it crosses to a worker process)."""

    landed: LandedFile
    scanned_root: Path  # the scanned folder (scanned.folder), where the rows are written
    timezone: str  # the days' time zone (CITY_USAGE_TIMEZONE)
    future_limit: datetime
    session_time_zone: str = "UTC"  # the caller's DuckDB TimeZone, so casts agree


@dataclass(frozen=True)
class FileScan:
    """One file read: its content identity and either its rejection or its rows' outcome."""

    fingerprint: str | None
    footer_sha256: str | None
    rejection: FileRejection | None = None
    shape: str | None = None
    # rows, valid, min_day, max_day, min_occurred_at, max_occurred_at (scan_totals.sql)
    totals: tuple = ()
    day_counts: pa.Table | None = None  # day, rows (scan_day_counts.sql)
    quarantine: pa.Table | None = None  # the invalid rows (scan_quarantine_rows.sql)
    temporary: Path | None = None  # the valid rows, to be published under the file's id
    worker_cpu_seconds: float = 0.0  # CPU a worker process spent on it (0: read in-process)


def create_raw_json_view(conn: duckdb.DuckDBPyConnection, prepared: PreparedFile) -> None:
    """`raw_json_rows`: each landed row as JSON. Composed, not loaded: its expression lists
    the columns this file has (normalize.raw_json_sql), which no static statement can."""
    conn.execute("CREATE OR REPLACE TEMP VIEW raw_json_rows AS " + raw_json_sql(prepared))


# Rows read, validated and written per batch: a landed file of any size is never held whole,
# and one of up to this many rows is read in one batch, as a whole.
BATCH_ROWS = 1 << 20
# Reads of a local file that was written to while it was read, before it is rejected.
READ_ATTEMPTS = 3


def read_file(conn: duckdb.DuckDBPyConnection, job: ScanJob) -> FileScan:
    """Read, validate and normalize one landed file with `conn`'s temp tables only, in
    batches of BATCH_ROWS rows. A file written to while it was read is read again."""
    for _ in range(READ_ATTEMPTS):
        with open_landed(job.landed.absolute, job.landed.fs) as source:
            scan = _read_source(conn, job, source)
            if not source.changed():
                return scan
        if scan.temporary is not None:
            scan.temporary.unlink(missing_ok=True)
    detail = f"it was written to while it was read, {READ_ATTEMPTS} times"
    return FileScan(scan.fingerprint, scan.footer_sha256,
                    rejection=FileRejection("unreadable_file", detail, None))


def _read_source(conn: duckdb.DuckDBPyConnection, job: ScanJob, source: LandedSource
                 ) -> FileScan:
    identity = (source.fingerprint, source.footer_sha256)
    parquet = open_parquet(source.source, source.error)
    if isinstance(parquet, FileRejection):
        return FileScan(*identity, rejection=parquet)
    run_sql(conn, __file__, "scan_begin")
    writer = scanned.TemporaryWriter(job.scanned_root)
    try:
        outcome = _read_batches(conn, job, parquet, writer)
        if isinstance(outcome, FileRejection):
            writer.discard()
            return FileScan(*identity, rejection=outcome)
        scan = FileScan(
            *identity, shape=outcome,
            totals=tuple(fetch_one(conn, load_sql(__file__, "scan_totals"))),
            day_counts=conn.sql(load_sql(__file__, "scan_day_counts")).to_arrow_table(),
            quarantine=conn.sql(load_sql(__file__, "scan_quarantine_rows")).to_arrow_table(),
            temporary=writer.finish(),
        )
    except BaseException:
        writer.discard()
        raise
    finally:
        run_sql(conn, __file__, "scan_end")
    return scan


def _read_batches(conn: duckdb.DuckDBPyConnection, job: ScanJob, parquet: pq.ParquetFile,
                  writer: scanned.TemporaryWriter) -> str | FileRejection:
    """Validate the file's rows batch by batch into `writer` and the scan's tally; returns
    the file's shape, or its rejection. A file-level problem found in any batch rejects the
    whole file; the rest is still read, so that a part that cannot be decoded makes it
    unreadable, as reading it whole first would."""
    batches = landed_batches(parquet, BATCH_ROWS)
    shape = None
    try:
        for first_row, table in batches:
            prepared = prepare(table, first_row)
            if isinstance(prepared, FileRejection):
                for _ in batches:
                    pass
                return replace(prepared, row_count=parquet.metadata.num_rows)
            _read_batch(conn, job, prepared, writer)
            shape = prepared.shape
    except UnreadablePart as part:
        return part.rejection
    return shape


def _read_batch(conn: duckdb.DuckDBPyConnection, job: ScanJob, prepared: PreparedFile,
                writer: scanned.TemporaryWriter) -> None:
    conn.register("typed_rows", prepared.typed)
    conn.register("raw_rows", prepared.raw)
    params = normalize_params(prepared, source_file=job.landed.path, timezone=job.timezone,
                              future_limit=job.future_limit)
    # Composed: the validation statement fits this file's columns (normalize.normalize_sql).
    conn.execute(f"CREATE OR REPLACE TEMP TABLE scan_rows AS {normalize_sql(prepared)}", params)
    writer.append(conn, "scan_rows")
    create_raw_json_view(conn, prepared)
    run_sql(conn, __file__, "scan_batch")
    run_sql(conn, __file__, "scan_cleanup")
    conn.unregister("typed_rows")
    conn.unregister("raw_rows")


# A forkserver's workers inherit the environment of the moment the server started, not this
# run's: the fault-injection variables (read by faults.fault_point) are handed over.
_FAULT_VARIABLES = ("CITY_USAGE_FAULT_POINT", "CITY_USAGE_FAULT_ONCE")


def _read_in_worker(job: ScanJob) -> FileScan:
    """A worker process's scan of one file, in its own in-memory DuckDB."""
    fault_point("scan_worker_file", job.landed.path)  # fires in workers only (tests/faults)
    began = time.process_time()
    with duckdb.connect(config={"threads": 1}) as conn:  # the pool is the parallelism
        conn.execute("SET TimeZone = $tz", {"tz": job.session_time_zone})
        scan = read_file(conn, job)
    return replace(scan, worker_cpu_seconds=time.process_time() - began)


@contextmanager
def file_scans(jobs: list[ScanJob], workers: int) -> Iterator[Iterator[FileScan | None]]:
    """The jobs' scans, in the jobs' order, read by `workers` processes. They are forked
    from a forkserver (never from this process: DuckDB's and pyarrow's threads must not be
    forked) that imported this module once, so a pool starts without importing again.
    A job whose worker failed (an error, or the process died) yields None: the caller reads
    that file itself, so it takes the usual path (rejected as unreadable, or the run fails
    naming it) and no row is lost. On exit, jobs not started are cancelled; temporary files
    of scans never recorded are orphans for scanned.remove_orphans."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context,
                               initializer=config.adopt,
                               initargs=({name: config.raw(name) for name in _FAULT_VARIABLES},))
    try:
        futures = [_submit(pool, job) for job in jobs]
        yield (_outcome(future, job) for future, job in zip(futures, jobs, strict=True))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _submit(pool: ProcessPoolExecutor, job: ScanJob) -> Future:
    try:
        return pool.submit(_read_in_worker, job)
    except BrokenProcessPool as exc:  # a worker died while jobs were still being handed out
        failed: Future = Future()
        failed.set_exception(exc)
        return failed


def _outcome(future: Future, job: ScanJob) -> FileScan | None:
    try:
        return future.result()
    except Exception as exc:  # a worker's failure becomes the caller's own read of the file
        log.warning("%s: scan worker failed (%s); scanning it in the pipeline's process",
                    job.landed.path, " ".join(str(exc).split()) or type(exc).__name__)
        return None
