"""Where data files live: a local folder or an object-store prefix (`s3://bucket/prefix`),
always through pyarrow's filesystem layer so no caller assumes a local path.

Writes are atomic from a reader's point of view: a file is either absent or complete. Both
write to a hidden temporary name (`.tmp-…`, which readers and dataset discovery skip) in the
target's folder and then publish it: locally a rename; on S3 a server-side copy (CopyObject)
of the complete temporary object, then its deletion. Not in place: pyarrow's S3 output stream
completes the upload when it is closed, and it is closed on an exception too (a `with` block,
or the stream's destructor), so a write that failed half-way would publish half an object.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

# The name prefix of write_atomic's temporaries (hidden: dataset discovery skips them).
TEMPORARY_PREFIX = ".tmp-"


@dataclass(frozen=True)
class Location:
    """A root folder on one filesystem; paths under it are `/`-joined strings."""

    fs: pafs.FileSystem
    root: str
    uri: str

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *(p.strip("/") for p in parts if p)])

    def child(self, *parts: str) -> Location:
        sub = "/".join(p.strip("/") for p in parts if p)
        return Location(self.fs, self.path(sub), self.uri.rstrip("/") + "/" + sub)

    def write_atomic(self, path: str, write: Callable[[pafs.FileSystem, str], None]) -> None:
        """Call `write(fs, target)` so that `path` appears complete or not at all."""
        parent = path.rsplit("/", 1)[0]
        if self.is_local:  # S3 folders are key prefixes: a marker object would cost a PUT each
            self.fs.create_dir(parent, recursive=True)
        temporary = f"{parent}/{TEMPORARY_PREFIX}{uuid.uuid4().hex}-{path.rsplit('/', 1)[-1]}"
        try:
            write(self.fs, temporary)
            if self.is_local:
                self.fs.move(temporary, path)
            else:  # S3 has no rename: the copy makes `path` appear whole, in one request
                self.fs.copy_file(temporary, path)
                self.fs.delete_file(temporary)
        except BaseException:
            with suppress(OSError):  # nothing was written, or it is already gone
                self.fs.delete_file(temporary)
            raise

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write `data` as the file `path`, whole or not at all (write_atomic)."""

        def write(fs: pafs.FileSystem, target: str) -> None:
            with fs.open_output_stream(target) as out:
                out.write(data)

        self.write_atomic(path, write)

    def publish(self, local_file: Path, path: str) -> None:
        """Make the complete local file `local_file` appear at `path`, whole or not at all.
        Locally it is synced and renamed (it must be on the same filesystem as this root);
        on S3 it is uploaded through `write_atomic` and then removed."""
        if self.is_local:
            with open(local_file, "rb") as handle:
                os.fsync(handle.fileno())
            self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
            os.replace(local_file, path)
            return
        self.write_atomic(path, lambda fs, target: pafs.copy_files(
            str(local_file), target, source_filesystem=pafs.LocalFileSystem(),
            destination_filesystem=fs))
        Path(local_file).unlink()

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def remove_folder(self, path: str) -> None:
        """Delete the folder (on S3: every object under the prefix) `path`, if it exists."""
        if self.exists(path):
            self.fs.delete_dir(path)


def parquet_relation(
    conn: duckdb.DuckDBPyConnection, where: Location, paths: list[str],
    schema: pa.Schema | None = None,
) -> duckdb.DuckDBPyRelation:
    """The rows of the Parquet files `paths` (paths of `where`) as one DuckDB relation: local
    files through DuckDB's own reader, remote ones through a pyarrow dataset on the
    Location's filesystem (DuckDB here has no httpfs), which DuckDB scans with projection
    and filter pushdown. No file: the empty `schema` (required then)."""
    if not paths:
        if schema is None:
            raise ValueError("parquet_relation: no file and no schema")
        return conn.from_arrow(schema.empty_table())
    if where.is_local:
        return conn.read_parquet(list(paths), hive_partitioning=False)
    return conn.from_arrow(pads.dataset(list(paths), schema=schema, format="parquet",
                                        filesystem=where.fs))


def is_remote(uri: str | Path) -> bool:
    return str(uri).startswith("s3://")


def s3_options_from_env(env: Mapping[str, str]) -> dict[str, object]:
    """`pyarrow.fs.S3FileSystem` arguments from the standard AWS variables in `env`: pyarrow
    reads the keys and region itself but not `AWS_ENDPOINT_URL` (an S3-compatible server)."""
    options: dict[str, object] = {}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        scheme, _, host = endpoint.rpartition("://")
        options["endpoint_override"] = host.rstrip("/")
        options["scheme"] = scheme or "https"
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        options["access_key"] = env["AWS_ACCESS_KEY_ID"]
        options["secret_key"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("AWS_SESSION_TOKEN"):
            options["session_token"] = env["AWS_SESSION_TOKEN"]
    return options


def location(uri: str | Path | Location,
             s3_options: Mapping[str, object] | None = None) -> Location:
    """A Location for a local path or an `s3://bucket/prefix` URI (a Location is returned as
    it is). `s3_options` are `pyarrow.fs.S3FileSystem` keyword arguments (endpoint_override,
    region, keys) that the settings object supplies; nothing here reads the environment."""
    if isinstance(uri, Location):
        return uri
    text = str(uri)
    if is_remote(text):
        fs = pafs.S3FileSystem(**dict(s3_options or {}))
        return Location(fs, text.removeprefix("s3://").rstrip("/"), text.rstrip("/"))
    root = str(Path(text).absolute())
    return Location(pafs.LocalFileSystem(), root, root)
