"""A batch: one version of one export for one period, and its canonical encodings."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default,
                      ensure_ascii=False, allow_nan=False)


def table_sha256(table: pa.Table) -> str:
    """A content hash of rows (order included) and column names; stable across runs."""
    return hashlib.sha256(
        canonical_json({"columns": table.schema.names, "rows": table.to_pylist()}).encode()
    ).hexdigest()


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


@dataclass(frozen=True)
class Batch:
    export: str
    source: str
    period: str
    version: int
    supersedes: int | None
    table: pa.Table

    @property
    def idempotency_key(self) -> str:
        return f"{self.export}:{self.period}:{self.version}"

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Rows as JSON-ready objects (dates as ISO text)."""
        return json.loads(canonical_json(self.table.to_pylist()))

    def body(self) -> bytes:
        """The webhook body: one JSON object (see usage_model/exports/README.md),
        byte-identical on every resend."""
        return canonical_json({
            "export": self.export, "source": self.source, "period": self.period,
            "version": self.version, "supersedes": self.supersedes, "rows": self.rows,
        }).encode()
