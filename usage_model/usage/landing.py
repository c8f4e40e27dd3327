"""Landed usage files: which files exist, and what a change to them is.

Only `*.parquet` files are read; names that begin with `_` or `.` (uploads in progress,
`_SUCCESS`) are ignored at any depth (docs/event-model.md rule 8). Paths are kept relative to
the landing root with `/` separators, because their sort order decides which duplicate wins
(rule 7).
"""

from __future__ import annotations

import hashlib
import os
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
        if _ignored(relative):
            continue
        landed = stat_landed(root, relative.as_posix())
        if landed is not None:
            found.append(landed)
    return sorted(found, key=lambda f: f.path)


def fingerprint(path: Path, chunk: int = 1 << 20) -> str | None:
    """sha256 of the whole file; None when it cannot be opened or read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


# Bytes hashed at the end of a file that does not end like Parquet (no footer to find).
_TAIL_BYTES = 64 << 10


def _footer_span(size: int, last8: bytes) -> int:
    """How many bytes at the end of a file of `size` bytes ending in `last8` the footer
    fingerprint hashes: the Parquet footer with its length and magic, else a fixed tail."""
    if size >= 12 and last8[4:] == b"PAR1":
        footer_length = int.from_bytes(last8[:4], "little")
        if footer_length + 12 <= size:
            return footer_length + 8
    return min(size, _TAIL_BYTES)


def footer_fingerprint(path: Path) -> str | None:
    """sha256 of the Parquet footer (file metadata, length and magic): it holds the row count,
    every column chunk's offset and sizes and their statistics, so almost any rewrite changes
    it, at the cost of one small read. None when the file cannot be opened or read."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(size - 8, 0))
            span = _footer_span(size, handle.read(8))
            handle.seek(size - span)
            return hashlib.sha256(handle.read(span)).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class LandedBytes:
    """A landed file read whole, once: its bytes and both fingerprints of them."""

    data: bytes | None  # None when the file could not be opened or read
    error: str | None  # why not (the OS's words)
    fingerprint: str | None
    footer_sha256: str | None


def read_landed_bytes(path: Path) -> LandedBytes:
    """The file's bytes with `fingerprint` and `footer_fingerprint` computed from the same
    bytes (one read: the Parquet reader then parses them from memory)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return LandedBytes(None, exc.strerror or type(exc).__name__, None, None)
    span = _footer_span(len(data), data[-8:])
    footer = hashlib.sha256(memoryview(data)[len(data) - span:]).hexdigest()
    return LandedBytes(data, None, hashlib.sha256(data).hexdigest(), footer)


@dataclass(frozen=True)
class StoredIdentity:
    """What the manifest remembers of a file's bytes."""

    size_bytes: int
    mtime_ns: int
    ctime_ns: int | None
    footer_sha256: str | None
    fingerprint: str | None


def same_content(landed: LandedFile, stored: StoredIdentity) -> bool:
    """Whether the file still holds the bytes the manifest recorded.

    Fast path: the same size, mtime and change time mean the bytes were not written (any
    write, and any later restore of the mtime as `cp -p` or `rsync -t` do, sets the change
    time, which user code cannot set back). Otherwise the footer decides when it differs, and
    the full hash when it does not (a same-size rewrite with the same statistics). A file
    that could not be opened before and still cannot is unchanged.
    """
    if (landed.size_bytes, landed.mtime_ns, landed.ctime_ns) == (
        stored.size_bytes, stored.mtime_ns, stored.ctime_ns
    ):
        return True
    if landed.size_bytes != stored.size_bytes:
        return False
    if stored.footer_sha256 is not None and (
        footer_fingerprint(landed.absolute) != stored.footer_sha256
    ):
        return False  # (a manifest written before footers were kept has none: hash it all)
    return fingerprint(landed.absolute) == stored.fingerprint


def stat_landed(root: Path, relative: str) -> LandedFile | None:
    """The landed file at `relative` as it is now; None when it is gone or not a file."""
    absolute = root / relative
    try:
        stat = absolute.stat()
    except OSError:
        return None
    if not absolute.is_file():
        return None
    return LandedFile(relative, absolute, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


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
