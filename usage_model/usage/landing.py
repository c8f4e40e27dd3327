"""Landed usage files: which files exist, and what a change to them is.

Only `*.parquet` files are read; names that begin with `_` or `.` (uploads in progress,
`_SUCCESS`) are ignored at any depth (DESIGN rule 8). Paths are kept relative to the landing
root with `/` separators, because their sort order decides which duplicate wins (rule 7).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LandedFile:
    path: str  # relative to the usage landing root, '/' separators
    absolute: Path
    size_bytes: int
    mtime_ns: int
    ctime_ns: int


def _ignored(relative: Path) -> bool:
    return any(part.startswith(("_", ".")) for part in relative.parts)


def list_landed_files(root: Path) -> list[LandedFile]:
    """Every candidate file under `root`, sorted by relative path (Unicode order)."""
    if not root.exists():
        return []
    found = []
    for absolute in root.rglob("*.parquet"):
        relative = absolute.relative_to(root)
        if _ignored(relative) or not absolute.is_file():
            continue
        stat = absolute.stat()
        found.append(
            LandedFile(
                path=relative.as_posix(),
                absolute=absolute,
                size_bytes=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                ctime_ns=stat.st_ctime_ns,
            )
        )
    return sorted(found, key=lambda f: f.path)


def fingerprint(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


_DAYS_SQL = """
SELECT DISTINCT CAST(timezone($tz, t) AS DATE) AS day
FROM (SELECT {time_expr} AS t FROM read_parquet($path, hive_partitioning = false))
WHERE t IS NOT NULL
"""


def days_in_file(path: Path, timezone: str) -> set:
    """The days a landed file touches, from its time column only (cheap: for sensors).

    Unreadable files, or files without a time column, touch no day; the scan that runs next
    quarantines them with their reason.
    """
    import duckdb
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(path).names)
    except Exception:  # not Parquet: the scan reports it
        return set()
    column = "occurred_at" if "occurred_at" in names else "created_at"
    if column not in names:
        return set()
    conn = duckdb.connect()
    try:
        conn.execute("SET TimeZone = 'UTC'")
        kind = conn.execute(
            f'SELECT typeof("{column}") FROM read_parquet($p) LIMIT 1', {"p": str(path)}
        ).fetchall()
        time_expr = (
            f'TRY_CAST("{column}" AS TIMESTAMPTZ)'
            if kind and kind[0][0] == "VARCHAR"
            else f'CAST("{column}" AS TIMESTAMPTZ)'
        )
        rows = conn.execute(
            _DAYS_SQL.replace("{time_expr}", time_expr), {"tz": timezone, "path": str(path)}
        ).fetchall()
        return {r[0] for r in rows}
    except duckdb.Error:
        return set()
    finally:
        conn.close()
