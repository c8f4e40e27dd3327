"""Where data files live: a local folder or an object-store prefix (`s3://bucket/prefix`),
always through pyarrow's filesystem layer so no caller assumes a local path.

Writes are atomic from a reader's point of view: a file is either absent or complete. Both
write to a hidden temporary name (`.tmp-…`, which readers and dataset discovery skip) in the
target's folder and then publish it: locally a rename; on S3 a server-side copy (CopyObject)
of the complete temporary object, then its deletion. Not in place: pyarrow's S3 output stream
completes the upload when it is closed, and it is closed on an exception too (a `with` block,
or the stream's destructor), so a write that failed half-way would publish half an object.

`create_once` is the other kind of write: it never replaces. Of any number of racing calls
for one path exactly one creates it (locally a hard link, which fails when the name exists;
on S3 a conditional PUT, `If-None-Match: *`, sent with boto3 since pyarrow cannot).
"""

from __future__ import annotations

import functools
import os
import tempfile
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    # The S3 options `fs` was made with (sorted items), for the requests pyarrow cannot send;
    # they may hold keys, hence never in a repr.
    s3_options: tuple[tuple[str, Any], ...] = field(default=(), repr=False, compare=False)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *(p.strip("/") for p in parts if p)])

    def child(self, *parts: str) -> Location:
        sub = "/".join(p.strip("/") for p in parts if p)
        return Location(self.fs, self.path(sub), self.uri.rstrip("/") + "/" + sub,
                        self.s3_options)

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

    def create_once(self, path: str, data: bytes) -> bool:
        """Create the file `path` holding `data` unless a file of that name exists; True when
        this call created it. Never replaces: of racing calls exactly one creates the file,
        which appears whole and is durable before this returns."""
        if self.is_local:
            return _create_once_local(path, data)
        return _create_once_s3(self.s3_options, path, data)

    def read_bytes(self, path: str) -> bytes:
        """The whole file `path` (on S3 one GET)."""
        with self.fs.open_input_stream(path) as stream:
            return stream.read()

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def remove_folder(self, path: str) -> None:
        """Delete the folder (on S3: every object under the prefix) `path`, if it exists."""
        if self.exists(path):
            self.fs.delete_dir(path)


def _fsync_dir(folder: str) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _create_once_local(path: str, data: bytes) -> bool:
    """A synced hidden temporary, hard-linked to `path` (atomic, and a link never replaces an
    existing name), then the folder synced so the new name survives a crash."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
    finally:
        Path(temporary).unlink(missing_ok=True)
    _fsync_dir(folder)
    return True


def _create_once_s3(options: tuple[tuple[str, Any], ...], path: str, data: bytes) -> bool:
    """A conditional PUT: S3 stores the object only if the key does not exist, else answers
    412. A 409 (another conditional write of the key in flight) is raised like any other
    failure, as an OSError naming the object: the caller's retry then meets the winner."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = path.partition("/")
    try:
        _s3_client(options).put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "PreconditionFailed":
            return False
        raise OSError(f"cannot create s3://{path}: {error.get('Code')} "
                      f"{' '.join(str(error.get('Message', '')).split())}") from None
    except BotoCoreError as exc:  # no connection, no credentials...
        raise OSError(f"cannot create s3://{path}: {' '.join(str(exc).split())}") from None
    return True


@functools.lru_cache(maxsize=8)
def _s3_client(options: tuple[tuple[str, Any], ...]) -> Any:
    """A boto3 S3 client (thread-safe, so shared) for the `pyarrow.fs.S3FileSystem` options
    `options`; what they leave unset boto3 reads from the standard AWS variables itself."""
    import boto3

    given = dict(options)
    arguments = {"region_name": given.get("region"),
                 "aws_access_key_id": given.get("access_key"),
                 "aws_secret_access_key": given.get("secret_key"),
                 "aws_session_token": given.get("session_token")}
    if given.get("endpoint_override"):
        arguments["endpoint_url"] = f"{given.get('scheme', 'https')}://{given['endpoint_override']}"
    return boto3.session.Session().client(
        "s3", **{name: value for name, value in arguments.items() if value})


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


def register_parquet(
    conn: duckdb.DuckDBPyConnection, name: str, where: Location, paths: list[str],
    schema: pa.Schema | None = None,
) -> str:
    """A session-only view `name` over `parquet_relation(conn, where, paths, schema)`, for
    statements that read the files as `{{name}}` (sql.py); returns `name`."""
    conn.register(name, parquet_relation(conn, where, paths, schema))
    return name


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
        options = dict(s3_options or {})
        return Location(pafs.S3FileSystem(**options), text.removeprefix("s3://").rstrip("/"),
                        text.rstrip("/"), tuple(sorted(options.items())))
    root = str(Path(text).absolute())
    return Location(pafs.LocalFileSystem(), root, root)
