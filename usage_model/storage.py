"""Where data files live: a local folder or an object-store prefix (`s3://bucket/prefix`),
always through pyarrow's filesystem layer so no caller assumes a local path.

Writes are atomic from a reader's point of view: a file is either absent or complete. Locally
that is a write to a hidden temporary name in the same folder and a rename; on S3 a PUT (or a
completed multipart upload) is already all-or-nothing, so the object is written in place.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs


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
        self.fs.create_dir(parent, recursive=True)
        if not self.is_local:
            write(self.fs, path)
            return
        temporary = f"{parent}/.tmp-{uuid.uuid4().hex}-{path.rsplit('/', 1)[-1]}"
        try:
            write(self.fs, temporary)
            self.fs.move(temporary, path)
        except BaseException:
            with suppress(OSError):  # nothing was written, or it is already gone
                self.fs.delete_file(temporary)
            raise


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


def location(uri: str | Path, s3_options: Mapping[str, object] | None = None) -> Location:
    """A Location for a local path or an `s3://bucket/prefix` URI. `s3_options` are
    `pyarrow.fs.S3FileSystem` keyword arguments (endpoint_override, region, keys) that the
    settings object supplies; nothing here reads the environment."""
    text = str(uri)
    if is_remote(text):
        fs = pafs.S3FileSystem(**dict(s3_options or {}))
        return Location(fs, text.removeprefix("s3://").rstrip("/"), text.rstrip("/"))
    root = str(Path(text).absolute())
    return Location(pafs.LocalFileSystem(), root, root)
