"""Files sink: one file per period and version, plus a manifest, all written atomically.

Layout under `CITY_USAGE_EXPORTS/<export>/<period>/`:
`v0001.parquet` (or `.csv`, `.jsonl`) and `v0001.manifest.json` for each version, and
`manifest.json` = the manifest of the current version (it names the version it supersedes).
The data file is renamed into place before its manifest: a manifest always describes a
complete file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from usage_model.exports.batch import Batch, canonical_json

EXTENSIONS = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}


def atomic_write(path: Path, data: bytes) -> None:
    """Temporary name in the same folder, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode(table: pa.Table, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, buffer, compression="zstd")
    elif fmt == "csv":
        pacsv.write_csv(table, buffer)
    elif fmt == "jsonl":
        for row in table.to_pylist():
            buffer.write(canonical_json(row).encode() + b"\n")
    else:
        raise ValueError(f"unknown file format {fmt!r}")
    return buffer.getvalue()


class FilesSink:
    def __init__(self, root: Path, fmt: str) -> None:
        self.root = root
        self.fmt = fmt

    def folder(self, export: str, period: str) -> Path:
        return self.root / export / period

    def deliver(self, batch: Batch) -> str:
        folder = self.folder(batch.export, batch.period)
        name = f"v{batch.version:04d}.{EXTENSIONS[self.fmt]}"
        data = encode(batch.table, self.fmt)
        atomic_write(folder / name, data)
        manifest = {
            "export": batch.export, "source": batch.source, "period": batch.period,
            "version": batch.version, "supersedes": batch.supersedes,
            "idempotency_key": batch.idempotency_key, "file": name, "format": self.fmt,
            "rows": batch.table.num_rows, "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "schema": [{"name": f.name, "type": str(f.type)} for f in batch.table.schema],
            "written_at": datetime.now(UTC).isoformat(),
        }
        text = (json.dumps(manifest, indent=2) + "\n").encode()
        atomic_write(folder / f"v{batch.version:04d}.manifest.json", text)
        atomic_write(folder / "manifest.json", text)
        return f"{folder / name} ({len(data)} bytes)"
