"""The DuckDB warehouse: connections and schema.

DuckDB allows one writing process per file. Writers run inside the Dagster pool
`duckdb_warehouse`; readers open the file read-only and, when a writer holds the lock, get a
`WarehouseLocked` error with one line instead of a traceback.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from usage_model import retry

_PACKAGE_ROOT = Path(__file__).parent
POOL = "duckdb_warehouse"
# Writers also carry this op tag: in distributed mode (dagster-celery) they run on the task
# queue served only by the worker that owns the warehouse file; embedded runs ignore it.
WRITER_OP_TAGS = {"dagster-celery/queue": "warehouse"}


class WarehouseLocked(RuntimeError):
    """The warehouse file is held by another process (a materialization is writing)."""


class WarehouseMissing(RuntimeError):
    """The warehouse file does not exist yet (nothing was materialized)."""


def schema_files() -> list[Path]:
    """Every domain keeps its DDL in `usage_model/<domain>/schema.sql` (idempotent DDL)."""
    return sorted(_PACKAGE_ROOT.glob("*/schema.sql"))


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    for path in schema_files():
        conn.execute(path.read_text())


def is_lock_error(exc: Exception) -> bool:
    """DuckDB's error for a file held by another process (its text is the only signal)."""
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set lock" in text)


def scratch_connection(memory_limit: str | None, **config: object) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for work beside the warehouse (a read, fold or summary step on any
    worker), with the warehouse's `memory_limit` (CITY_USAGE_DUCKDB_MEMORY_LIMIT) when one
    is set: past it, sorts and joins spill to the system's temporary folder, not to the
    worker's working directory."""
    if memory_limit:
        config |= {"memory_limit": memory_limit,
                   "temp_directory": str(Path(tempfile.gettempdir()) / "city-usage-duckdb")}
    return duckdb.connect(config=config)


def require_warehouse(path: Path | str) -> None:
    """Raise WarehouseMissing (one line) when nothing has been materialized yet."""
    if not Path(path).exists():
        raise WarehouseMissing(f"{path}: no warehouse yet; run `city-usage materialize` first")


@contextmanager
def connect(path: Path | str, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse. Writers also get the schema; readers never create the file."""
    path = Path(path)
    if read_only:
        require_warehouse(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if is_lock_error(exc):
            raise WarehouseLocked(
                f"{path}: the warehouse is locked by another process (a materialization is "
                "running); try again when it finishes"
            ) from None
        raise
    try:
        conn.execute("SET TimeZone = 'UTC'")
        if not read_only:
            ensure_schema(conn)
        yield conn
    finally:
        conn.close()


def in_transaction(conn: duckdb.DuckDBPyConnection) -> bool:
    """True when an explicit transaction is open (autocommit gives each statement a new id)."""
    first = conn.execute("SELECT txid_current()").fetchone()[0]
    second = conn.execute("SELECT txid_current()").fetchone()[0]
    return first == second


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The one way to group warehouse writes: commit on success, roll back on any exception
    (including a KeyboardInterrupt), and join the caller's transaction when one is open, so
    helpers compose without nesting BEGINs."""
    if in_transaction(conn):
        yield
        return
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        # A connection broken mid-statement may refuse the ROLLBACK; the original error is the
        # one worth raising, and DuckDB discards an uncommitted transaction on close anyway.
        with suppress(duckdb.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def fetch_one(
    conn: duckdb.DuckDBPyConnection, sql: str, params: object = None
) -> tuple | None:
    """The first row, with the result fully consumed (duckdb 2.x refuses new work on a
    connection whose previous result is still open)."""
    result = conn.execute(sql, params) if params is not None else conn.execute(sql)
    rows = result.fetchall()
    return rows[0] if rows else None


def connect_waiting(
    path: Path | str,
    timeout_s: float,
    config: dict | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> duckdb.DuckDBPyConnection:
    """A writer's connection that waits (the `WAREHOUSE_LOCK` retry policy: backoff from 50 ms
    to 2 s) while another process holds the lock, for at most `timeout_s`, and fails at once
    on anything else, such as a path that is not a database."""
    retrying = retry.retrying(
        retry.WAREHOUSE_LOCK,
        retry_if=lambda exc: isinstance(exc, duckdb.IOException) and is_lock_error(exc),
        deadline_s=timeout_s, sleep=sleep, monotonic=monotonic,
    )
    try:
        return retrying(duckdb.connect, str(path), read_only=False, config=config or {})
    except duckdb.IOException as exc:
        if is_lock_error(exc):
            raise WarehouseLocked(
                f"{path}: still locked by another process after {timeout_s:.0f} s"
            ) from None
        raise
