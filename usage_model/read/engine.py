"""Where reads run: one in-process DuckDB engine; the warehouse attached read-only per query.

Creating a DuckDB instance costs ~11 ms and closing it ~3 ms (measured here, duckdb 2.0.1),
more than a pre-aggregated answer itself. So reads share one in-memory engine and ATTACH the
warehouse file READ_ONLY for the time of one query (~1 ms), then DETACH it: the same
guarantees as `usage_model.warehouse.connect(path, read_only=True)` (never creates or writes
the file; no lock is held between reads, so a materialization is neither blocked nor broken)
and the same one-line `WarehouseLocked` / `WarehouseMissing` errors.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from usage_model.warehouse import WarehouseLocked, WarehouseMissing, is_lock_error

_lock = threading.RLock()
_engine: duckdb.DuckDBPyConnection | None = None
_engine_pid: int | None = None


def _shared_engine() -> duckdb.DuckDBPyConnection:
    global _engine, _engine_pid
    if _engine is None or _engine_pid != os.getpid():  # a forked child gets its own engine
        _engine = duckdb.connect(":memory:")
        _engine.execute("SET TimeZone = 'UTC'")
        # Spill (large sorts under a memory cap) to the system temp folder, not `.tmp` in the
        # caller's working directory; DuckDB fixes this folder once it has been used.
        spill = Path(tempfile.gettempdir()) / f"city-usage-read-{os.getpid()}"
        _engine.execute("SET temp_directory = $d", {"d": str(spill)})
        _engine_pid = os.getpid()
    return _engine


@contextmanager
def engine() -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection on the shared in-memory engine (one read at a time per process)."""
    with _lock:
        conn = _shared_engine().cursor()
        try:
            conn.execute("SET TimeZone = 'UTC'")
            yield conn
        finally:
            conn.close()


@contextmanager
def warehouse_reader(path: Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection whose default catalog is the warehouse, attached READ_ONLY for this block."""
    path = Path(path)
    if not path.exists():
        raise WarehouseMissing(f"{path}: no warehouse yet; run `city-usage materialize` first")
    with engine() as conn:
        try:
            conn.execute("ATTACH $path AS warehouse (READ_ONLY)", {"path": str(path)})
        except duckdb.IOException as exc:
            if is_lock_error(exc):
                raise WarehouseLocked(
                    f"{path}: the warehouse is locked by another process (a materialization "
                    "is running); try again when it finishes"
                ) from None
            raise
        try:
            conn.execute("USE warehouse")
            yield conn
        finally:
            conn.execute("USE memory")
            conn.execute("DETACH DATABASE IF EXISTS warehouse")


def small_result(
    conn: duckdb.DuckDBPyConnection, query: str, params: dict[str, object]
) -> pa.Table:
    """Run a query whose answer is small (summary groups) and return it as Arrow.

    A prepared DB-API execution skips the relation API's second bind (~1 ms of a ~6 ms read,
    measured); DuckDB warns that it copies the rows once, which is nothing for a few groups.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
        return conn.execute(query, params).to_arrow_reader().read_all()
