"""Landed usage files: which files exist, and what a change to them is.

Only `*.parquet` files are read; names that begin with `_` or `.` (uploads in progress,
`_SUCCESS`) are ignored at any depth (docs/event-model.md rule 8). Paths are kept relative to
the landing root with `/` separators, because their sort order decides which duplicate wins
(rule 7).

The landing root is a local folder or an `s3://` prefix (a `storage.Location`); files are
listed, stat'ed and read through its pyarrow filesystem. An object store has no change time:
there the server-set modification time (every PUT sets it; a client cannot choose it) stands
in for it, and an unchanged size and time is trusted only with an unchanged footer too,
until the file is *settled* (see `settles`): from then on its size and time alone are
trusted, so a run does not read the footer of every file of the history again.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from usage_model import clock
from usage_model.storage import Location, location

LOCAL = pafs.LocalFileSystem()
# How much older than the listing that saw it an object's modification time must be for the
# object to be settled. S3 refuses a signed request whose clock is more than 15 minutes off
# its own (SigV4's RequestTimeTooSkewed), so the server's time at the listing was at least
# the listing's clock time minus 15 minutes; its times are whole seconds; one more second.
SETTLED_AFTER = timedelta(minutes=15, seconds=1)
_SETTLED_AFTER_NS = int(SETTLED_AFTER.total_seconds()) * 1_000_000_000


@dataclass(frozen=True)
class LandedFile:
    path: str  # relative to the usage landing root, '/' separators
    absolute: str | Path  # the file's path on `fs`
    size_bytes: int
    mtime_ns: int
    ctime_ns: int  # the object store's modification time when `fs` is not local
    fs: pafs.FileSystem = field(default_factory=pafs.LocalFileSystem, compare=False)
    # clock.now() just before the listing or stat that saw it (ns; see `settles`)
    listed_at_ns: int | None = field(default=None, compare=False)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)


def _ignored(relative: str) -> bool:
    return any(part.startswith(("_", ".")) for part in relative.split("/"))


def _as_location(root: Path | Location) -> Location:
    return root if isinstance(root, Location) else location(root)


def list_landed_files(root: Path | Location) -> list[LandedFile]:
    """Every candidate file under `root`, sorted by relative path (Unicode order)."""
    where = _as_location(root)
    selector = pafs.FileSelector(where.root, recursive=True, allow_not_found=True)
    listed_at = _listing_time_ns()
    try:
        infos = where.fs.get_file_info(selector)
    except NotADirectoryError:
        return []
    prefix = where.root.rstrip("/") + "/"
    found = []
    for info in infos:
        relative = info.path.removeprefix(prefix)
        if info.type != pafs.FileType.File or not relative.endswith(".parquet"):
            continue
        if _ignored(relative):
            continue
        landed = _landed(where, relative, info, listed_at)
        if landed is not None:
            found.append(landed)
    return sorted(found, key=lambda f: f.path)


def _open(path: str | Path, fs: pafs.FileSystem):
    """A readable binary file. Local files through the OS, so an error carries only the OS's
    words (`strerror`), never the absolute path pyarrow's messages include."""
    if isinstance(fs, pafs.LocalFileSystem):
        return open(path, "rb")  # noqa: SIM115 (the callers close it)
    try:
        return fs.open_input_file(str(path))
    except FileNotFoundError as exc:
        raise OSError(errno.ENOENT, "No such object") from exc
    except OSError as exc:  # pyarrow's S3 errors name the bucket and key: keep the kind only
        raise OSError(errno.EIO, type(exc).__name__) from exc


def fingerprint(path: str | Path, chunk: int = 1 << 20, fs: pafs.FileSystem = LOCAL
                ) -> str | None:
    """sha256 of the whole file; None when it cannot be opened or read."""
    try:
        with _open(path, fs) as handle:
            return _sha256_to_end(handle, chunk)
    except OSError:
        return None


def _sha256_to_end(handle, chunk: int) -> str:
    """sha256 of an open file's bytes from its position to the end, `chunk` bytes a read."""
    digest = hashlib.sha256()
    while block := handle.read(chunk):
        digest.update(block)
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


def _footer_sha256(handle) -> str:
    """`footer_fingerprint` of an open file (it moves the file's position)."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(size - 8, 0))
    span = _footer_span(size, handle.read(8))
    handle.seek(size - span)
    return hashlib.sha256(handle.read(span)).hexdigest()


def footer_fingerprint(path: str | Path, fs: pafs.FileSystem = LOCAL) -> str | None:
    """sha256 of the Parquet footer (file metadata, length and magic): it holds the row count,
    every column chunk's offset and sizes and their statistics, so almost any rewrite changes
    it, at the cost of one small read (a ranged GET on S3). None when the file cannot be
    opened or read."""
    try:
        with _open(path, fs) as handle:
            return _footer_sha256(handle)
    except OSError:
        return None


@dataclass(frozen=True)
class LandedBytes:
    """A landed file read whole, once: its bytes and both fingerprints of them."""

    data: bytes | None  # None when the file could not be opened or read
    error: str | None  # why not (the OS's words)
    fingerprint: str | None
    footer_sha256: str | None


def read_landed_bytes(path: str | Path, fs: pafs.FileSystem = LOCAL) -> LandedBytes:
    """The file's bytes with `fingerprint` and `footer_fingerprint` computed from the same
    bytes (one read: the Parquet reader then parses them from memory)."""
    try:
        with _open(path, fs) as handle:
            data = handle.read()
    except OSError as exc:
        return LandedBytes(None, exc.strerror or type(exc).__name__, None, None)
    span = _footer_span(len(data), data[-8:])
    footer = hashlib.sha256(memoryview(data)[len(data) - span:]).hexdigest()
    return LandedBytes(data, None, hashlib.sha256(data).hexdigest(), footer)


# Bytes per read of the hashing pass over a local file.
_HASH_CHUNK = 8 << 20


@dataclass(frozen=True)
class LandedSource:
    """A landed file open for parsing, with both fingerprints of the bytes it holds.

    `source` is what the Parquet reader parses (error None), `changed` says whether those
    bytes may differ from the hashed ones."""

    source: object  # a readable binary file, or None with `error`
    error: str | None
    fingerprint: str | None
    footer_sha256: str | None
    _identity: tuple | None = None  # (size, mtime, change time) of a local file when hashed

    def changed(self) -> bool:
        """Whether the file was written since it was hashed (local files only: a remote
        file is parsed from the bytes hashed, read in one request)."""
        return self._identity is not None and _stat_identity(self.source) != self._identity


def _stat_identity(handle) -> tuple[int, int, int]:
    stat = os.fstat(handle.fileno())
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


@contextmanager
def open_landed(path: str | Path, fs: pafs.FileSystem = LOCAL) -> Iterator[LandedSource]:
    """The landed file open for parsing, with `fingerprint` and `footer_fingerprint` of the
    same bytes, without holding a local file in memory.

    A local file is hashed in a streaming pass, then parsed from the same open handle: a
    rename over its path does not reach that handle, and any write to it sets its change
    time, which `LandedSource.changed` compares after the parse (the caller reads it again).
    A remote file is read whole in one request (`read_landed_bytes`) and parsed from memory.
    """
    if not isinstance(fs, pafs.LocalFileSystem):
        read = read_landed_bytes(path, fs)
        data = None if read.data is None else pa.BufferReader(read.data)
        yield LandedSource(data, read.error, read.fingerprint, read.footer_sha256)
        return
    try:
        handle = _open(path, fs)
    except OSError as exc:
        yield LandedSource(None, exc.strerror or type(exc).__name__, None, None)
        return
    with handle:
        try:
            identity = _stat_identity(handle)
            whole = _sha256_to_end(handle, _HASH_CHUNK)
            footer = _footer_sha256(handle)
            handle.seek(0)
        except OSError as exc:
            yield LandedSource(None, exc.strerror or type(exc).__name__, None, None)
            return
        yield LandedSource(handle, None, whole, footer, identity)


@dataclass(frozen=True)
class StoredIdentity:
    """What the manifest remembers of a file's bytes."""

    size_bytes: int
    mtime_ns: int
    ctime_ns: int | None
    footer_sha256: str | None
    fingerprint: str | None
    settled_at_ns: int | None = None  # the listing that settled it (`settles`); None: not yet


def _listing_time_ns() -> int:
    return int(clock.now().timestamp()) * 1_000_000_000


def settles(landed: LandedFile) -> int | None:
    """The listing time to record as the file's settling, when the listing that saw it shows
    an object store's object last written at least SETTLED_AFTER earlier; else None.

    Once the bytes recorded for such a listing are known (read after it, or checked by
    their footer after it), a later write of the object gets a later modification time,
    since the server's clock had passed the recorded one by over a second when it listed:
    an unchanged size and time then means unchanged bytes, with no footer read. (Local
    files have their change time for that, and are never settled.)"""
    if landed.is_local or landed.listed_at_ns is None:
        return None
    old_enough = landed.mtime_ns <= landed.listed_at_ns - _SETTLED_AFTER_NS
    return landed.listed_at_ns if old_enough else None


def same_content(landed: LandedFile, stored: StoredIdentity) -> bool:
    """Whether the file still holds the bytes the manifest recorded.

    Fast path: the same size, mtime and change time mean the bytes were not written (any
    write, and any later restore of the mtime as `cp -p` or `rsync -t` do, sets the change
    time, which user code cannot set back); on an object store (times to the second) the
    footer must match as well, unless the file is settled (`settles`). Otherwise the footer
    decides when it differs, and the full hash when it does not (a same-size rewrite with the
    same statistics). A file that could not be opened before and still cannot is unchanged.
    """
    footer = None
    if (landed.size_bytes, landed.mtime_ns, landed.ctime_ns) == (
        stored.size_bytes, stored.mtime_ns, stored.ctime_ns
    ):
        if landed.is_local or stored.footer_sha256 is None or stored.settled_at_ns is not None:
            return True
        footer = footer_fingerprint(landed.absolute, landed.fs)
        if footer == stored.footer_sha256:
            return True
    if landed.size_bytes != stored.size_bytes:
        return False
    if stored.footer_sha256 is not None and (
        (footer or footer_fingerprint(landed.absolute, landed.fs)) != stored.footer_sha256
    ):
        return False  # (a manifest written before footers were kept has none: hash it all)
    return fingerprint(landed.absolute, fs=landed.fs) == stored.fingerprint


def stat_landed(root: Path | Location, relative: str) -> LandedFile | None:
    """The landed file at `relative` as it is now; None when it is gone or not a file."""
    where = _as_location(root)
    listed_at = _listing_time_ns()
    try:
        info = where.fs.get_file_info(where.path(relative))
    except OSError:
        return None
    return _landed(where, relative, info, listed_at)


def _landed(where: Location, relative: str, info: pafs.FileInfo, listed_at_ns: int
            ) -> LandedFile | None:
    if info.type != pafs.FileType.File:
        return None
    absolute = where.path(relative)
    if where.is_local:  # pyarrow's FileInfo has no change time: ask the OS
        try:
            stat = Path(absolute).stat()
        except OSError:
            return None
        return LandedFile(relative, Path(absolute), stat.st_size, stat.st_mtime_ns,
                          stat.st_ctime_ns)
    mtime_ns = info.mtime_ns or 0
    return LandedFile(relative, absolute, info.size or 0, mtime_ns, mtime_ns, where.fs,
                      listed_at_ns)




def days_in_file(path: str | Path, timezone: str, fs: pafs.FileSystem = LOCAL) -> set:
    """The days a landed file touches, from its time column only (cheap: for sensors; on S3
    ranged reads of the footer and that one column).

    Unreadable files, or files without a time column, touch no day; the scan that runs next
    quarantines them with their reason.
    """
    import duckdb
    import pyarrow.parquet as pq

    from usage_model.sql import run_sql

    try:
        with _open(path, fs) as handle:
            parquet = pq.ParquetFile(handle)
            names = set(parquet.schema_arrow.names)
            column = "occurred_at" if "occurred_at" in names else "created_at"
            if column not in names:
                return set()
            times = parquet.read(columns=[column])
    except Exception:  # not Parquet: the scan reports it
        return set()
    conn = duckdb.connect()
    try:
        conn.execute("SET TimeZone = 'UTC'")
        conn.register("times", times.rename_columns(["t"]))
        rows = run_sql(conn, __file__, "landed_days", tz=timezone).fetchall()
        return {r[0] for r in rows}
    except duckdb.Error:
        return set()
    finally:
        conn.close()
