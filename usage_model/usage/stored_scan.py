"""A read step's result as stored for the warehouse step, without pickle: the `FileScan`'s
scalar fields as JSON (dates and times as ISO strings), its two tables (valid rows per day,
quarantined rows) as Parquet; its valid rows are the Parquet file `file_reads` stores beside.

These objects sit where every worker can write (S3 in distributed mode): unpickling them would
let anyone who can write there run code on the warehouse host. JSON and Parquet carry data
only, and `load` validates every key, the tables' columns and their counts against the totals;
anything else is a `StoredScanError` (one line naming the object and the key), after which the
warehouse step reads the landed file itself, so no row depends on a stored result.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import (
    BaseModel,
    ConfigDict,
    NonNegativeFloat,
    NonNegativeInt,
    ValidationError,
    model_validator,
)

from usage_model.storage import Location
from usage_model.usage.file_scan import FileScan
from usage_model.usage.normalize import FileRejection

SCAN_NAME = "scan.json"
DAYS_NAME = "days.parquet"
QUARANTINE_NAME = "quarantine.parquet"
# The tables' columns, as scan_day_counts.sql and scan_quarantine_rows.sql select them.
DAY_COLUMNS = ["day", "rows"]
QUARANTINE_COLUMNS = ["source_row", "event_id", "day", "reason", "detail", "raw_json"]


class StoredScanError(ValueError):
    """A stored scan that is not what a read step writes (names the object and the key)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Rejection(_Strict):
    reason: Literal["unreadable_file", "schema_mismatch"]
    detail: str
    row_count: NonNegativeInt | None


class _Totals(_Strict):
    """FileScan.totals by name (scan_totals.sql)."""

    rows: NonNegativeInt
    valid: NonNegativeInt
    min_day: date | None
    max_day: date | None
    min_occurred_at: datetime | None
    max_occurred_at: datetime | None


class _ScanRecord(_Strict):
    format: Literal[1] = 1
    fingerprint: str | None
    footer_sha256: str | None
    rejection: _Rejection | None = None
    shape: Literal["native", "downcity"] | None = None
    totals: _Totals | None = None
    worker_cpu_seconds: NonNegativeFloat = 0.0

    @model_validator(mode="after")
    def _rejected_or_read(self) -> _ScanRecord:
        read = self.shape is not None and self.totals is not None
        if self.rejection is None and not read:
            raise ValueError("a file not rejected needs shape and totals")
        if self.rejection is not None and (self.shape is not None or self.totals is not None):
            raise ValueError("a rejected file has no shape or totals")
        if self.totals is not None and self.totals.valid > self.totals.rows:
            raise ValueError("totals.valid exceeds totals.rows")
        return self


def store(where: Location, folder: str, scan: FileScan) -> None:
    """Write `scan` (but its rows) under `folder`: the tables first, the JSON last, each
    whole or not at all, so a stored JSON means its tables are there."""
    if scan.rejection is None:
        for name, table in ((DAYS_NAME, scan.day_counts), (QUARANTINE_NAME, scan.quarantine)):
            where.write_atomic(f"{folder}/{name}", lambda fs, target, table=table:
                               pq.write_table(table, target, filesystem=fs))
    record = _ScanRecord(
        fingerprint=scan.fingerprint, footer_sha256=scan.footer_sha256,
        rejection=None if scan.rejection is None else _Rejection(
            reason=scan.rejection.reason, detail=scan.rejection.detail,
            row_count=scan.rejection.row_count),
        shape=scan.shape,
        totals=None if scan.rejection is not None else _Totals(
            **dict(zip(_Totals.model_fields, scan.totals, strict=True))),
        worker_cpu_seconds=scan.worker_cpu_seconds,
    )
    where.write_bytes(f"{folder}/{SCAN_NAME}", record.model_dump_json().encode())


def load(where: Location, folder: str) -> FileScan:
    """The scan stored under `folder` (without its rows: `temporary` is None), validated.
    Raises StoredScanError naming the object and the key when it is malformed."""
    path = f"{folder}/{SCAN_NAME}"
    text = where.read_bytes(path)
    try:
        record = _ScanRecord.model_validate_json(text)
    except ValidationError as exc:
        raise StoredScanError(f"{path}: {first_problem(exc)}") from None
    if record.rejection is not None:
        return FileScan(record.fingerprint, record.footer_sha256,
                        rejection=FileRejection(**record.rejection.model_dump()),
                        worker_cpu_seconds=record.worker_cpu_seconds)
    totals = record.totals
    assert totals is not None  # checked by _rejected_or_read
    days = _table(where, f"{folder}/{DAYS_NAME}", DAY_COLUMNS)
    if (pc.sum(days["rows"]).as_py() or 0) != totals.valid:
        raise StoredScanError(f"{folder}/{DAYS_NAME}: rows per day do not add up to "
                              f"totals.valid {totals.valid}")
    quarantine = _table(where, f"{folder}/{QUARANTINE_NAME}", QUARANTINE_COLUMNS)
    if quarantine.num_rows != totals.rows - totals.valid:
        raise StoredScanError(f"{folder}/{QUARANTINE_NAME}: {quarantine.num_rows} rows, not "
                              f"totals.rows - totals.valid = {totals.rows - totals.valid}")
    return FileScan(record.fingerprint, record.footer_sha256, shape=record.shape,
                    totals=tuple(totals.model_dump().values()), day_counts=days,
                    quarantine=quarantine, worker_cpu_seconds=record.worker_cpu_seconds)


def first_problem(exc: ValidationError) -> str:
    """The first thing pydantic rejected, in one line naming the key."""
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"]) or "(the object)"
    return f"key {key}: {error['msg']}"


def _table(where: Location, path: str, columns: list[str]) -> pa.Table:
    try:
        table = pq.read_table(path, filesystem=where.fs)
    except (OSError, pa.ArrowInvalid) as exc:
        raise StoredScanError(f"{path}: not readable ({' '.join(str(exc).split())})") from None
    if table.column_names != columns:
        raise StoredScanError(f"{path}: columns {table.column_names}, expected {columns}")
    return table
