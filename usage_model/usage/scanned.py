"""What the scan keeps of each landed file, so that the build never reads landing again.

The scan validates and normalizes a landed file once and writes its valid rows, with their
id hash, to one Parquet file under `<curated>/_scanned/`, named by the manifest's
`file_id` and the file's content fingerprint: `file=<file_id>-<sha256 prefix>.parquet`. The
build reads these (one `read_parquet` over the window's files, filtered by day) instead of
reading and normalizing the landed files again.

A scanned file belongs to exactly one manifest entry (same file_id and fingerprint); one
without an entry (its scan did not commit, or its landed file was forgotten) is an orphan and
is removed by `remove_orphans`. A manifest entry whose scanned file is missing or does not
hold the rows the manifest counted is scanned again by the build (see ingest._gather).
"""

from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from usage_model.config import Settings
from usage_model.sql import load_sql, run_sql
from usage_model.usage.event_model import CURATED_SCHEMA

CURATED_COLUMNS = ", ".join(f.name for f in CURATED_SCHEMA)
# id_hash: the id's 64-bit hash the scan computed once (sql/validate.sql); the index and
# the build use it, never hashing the id again.
KEPT_COLUMNS = f"{CURATED_COLUMNS}, id_hash"
# A scanned file without these (written by an older version) is scanned again by the build.
REQUIRED_COLUMNS = ("id_hash",)
PREFIX_CHARS = 16
# Rows per row group of a scanned file.
ROW_GROUP_ROWS = 122880


def folder(settings: Settings) -> Path:
    return settings.work_root / "_scanned"


def path_of(settings: Settings, file_id: int, fingerprint: str) -> Path:
    return folder(settings) / f"file={file_id}-{fingerprint[:PREFIX_CHARS]}.parquet"


def write(conn: duckdb.DuckDBPyConnection, settings: Settings, file_id: int,
          fingerprint: str, rows_table: str) -> Path:
    """Write the valid rows of the temp table `rows_table` (curated columns, id_hash and
    a null `reason`) as the file's scanned rows: temporary name, fsync, rename, so a reader
    sees all or nothing."""
    return publish(settings, write_temporary(conn, folder(settings), rows_table),
                   file_id, fingerprint)


def write_temporary(conn: duckdb.DuckDBPyConnection, root: Path, rows_table: str) -> Path:
    """Write the valid rows of `rows_table` to a temporary file in `root` (the scanned
    folder), synced to disk; `publish` gives it its name. A scan worker process writes here
    before the manifest knows the file (remove_orphans clears those of dead scans)."""
    writer = TemporaryWriter(root)
    try:
        writer.append(conn, rows_table)
    except BaseException:
        writer.discard()
        raise
    return writer.finish()


class TemporaryWriter:
    """One temporary scanned file (see `write_temporary`) written by appending the valid rows
    of temp tables, one after another (a file read in batches), through a single Parquet
    writer that streams DuckDB's Arrow batches: no table is held whole."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / f"_{uuid.uuid4().hex}.tmp"
        self._writer: pq.ParquetWriter | None = None

    def append(self, conn: duckdb.DuckDBPyConnection, rows_table: str) -> None:
        """Append the valid rows of the temp table `rows_table` (curated columns, id_hash
        and a null `reason`)."""
        rows = conn.sql(load_sql(__file__, "scanned_rows", idents={"rows": rows_table}))
        batches = rows.project(KEPT_COLUMNS).to_arrow_reader(ROW_GROUP_ROWS)
        if self._writer is None:
            # No sort (the build keys rows by source_row) and LZ4: these files are read back
            # once or twice and never leave the machine's curated folder, so writing fast
            # beats small. The path is a value handed to pyarrow, never spliced into SQL.
            self._writer = pq.ParquetWriter(self.path.as_posix(), batches.schema,
                                            compression="lz4_raw")
        for batch in batches:
            self._writer.write_batch(batch, row_group_size=ROW_GROUP_ROWS)

    def finish(self) -> Path:
        """Close the file and sync it to disk; its path (`publish` gives it its name)."""
        if self._writer is None:
            raise ValueError("a scanned file needs at least one append")
        self._writer.close()
        with self.path.open("rb") as handle:
            os.fsync(handle.fileno())
        return self.path

    def discard(self) -> None:
        """Close and remove the file (its scan was rejected or failed)."""
        if self._writer is not None:
            self._writer.close()
        self.path.unlink(missing_ok=True)


def publish(settings: Settings, temporary: Path, file_id: int, fingerprint: str) -> Path:
    """Rename a `write_temporary` file to the scanned rows of manifest entry `file_id`."""
    target = path_of(settings, file_id, fingerprint)
    os.replace(temporary, target)
    return target


def remove(settings: Settings, file_id: int) -> None:
    """Remove every scanned file of one manifest entry (any fingerprint)."""
    for stale in folder(settings).glob(f"file={file_id}-*.parquet"):
        stale.unlink(missing_ok=True)


def remove_orphans(conn: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Remove scanned files no manifest entry owns, and temporary files of dead scans."""
    root = folder(settings)
    if not root.exists():
        return 0
    owned = {
        path_of(settings, file_id, fp).name
        for file_id, fp in run_sql(conn, __file__, "scanned_owners").fetchall()
    }
    removed = 0
    for entry in root.iterdir():
        if entry.name not in owned:
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def holds(path: Path, rows: int) -> bool:
    """Whether a scanned file exists, is readable Parquet of this version's layout and holds
    `rows` rows."""
    try:
        parquet = pq.ParquetFile(path)
    except Exception:  # missing, truncated or not Parquet: the build scans the file again
        return False
    names = set(parquet.schema_arrow.names)
    return parquet.metadata.num_rows == rows and all(c in names for c in REQUIRED_COLUMNS)


def insert_rows(conn: duckdb.DuckDBPyConnection, table: str, paths: list[Path],
                days: list[date]) -> None:
    """Append the scanned rows of `paths` on `days` (curated columns and id_hash) to the
    temp table `table`."""
    run_sql(conn, __file__, "scanned_insert", idents={"table": table},
            files=[p.as_posix() for p in paths], days=days)


def insert_winner_rows(conn: duckdb.DuckDBPyConnection, table: str, paths: list[Path]) -> None:
    """Append the rows of `paths` that temp table `winners` names (winner_file, winner_row)
    to the temp table `table`."""
    run_sql(conn, __file__, "scanned_winner_rows", idents={"table": table},
            files=[p.as_posix() for p in paths])
