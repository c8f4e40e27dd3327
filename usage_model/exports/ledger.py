"""The export ledger: intent (pending) before delivery, outcome (delivered) after it.

`(export, period, version)` is the primary key and `idempotency_key` is unique, so a version
is recorded once; a crash between delivery and the outcome leaves it pending and the next run
resends the same bytes under the same Idempotency-Key (receivers absorb the repeat).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from usage_model.exports.batch import Batch, from_ipc, to_ipc
from usage_model.sql import run_sql
from usage_model.warehouse import transaction


@dataclass(frozen=True)
class LedgerRow:
    version: int
    supersedes: int | None
    status: str
    content_sha256: str
    attempts: int


def _key(batch: Batch) -> dict[str, object]:
    """A version's key in the ledger and the outbox."""
    return {"export": batch.export, "period": batch.period, "version": batch.version}


def latest(conn: duckdb.DuckDBPyConnection, export: str, period: str) -> LedgerRow | None:
    rows = run_sql(conn, __file__, "latest_version", export=export, period=period).fetchall()
    return LedgerRow(*rows[0]) if rows else None


def pending_batches(
    conn: duckdb.DuckDBPyConnection, export: str, source: str, period: str
) -> list[Batch]:
    return [
        Batch(export, source, period, version, supersedes, from_ipc(blob))
        for version, supersedes, blob in run_sql(conn, __file__, "pending_batches",
                                                 export=export, period=period).fetchall()
    ]


def record_intent(
    conn: duckdb.DuckDBPyConnection, batch: Batch, sink: str, content_sha256: str
) -> None:
    """Store the version and its exact batch in one transaction, before any delivery."""
    with transaction(conn):
        run_sql(conn, __file__, "insert_ledger", **_key(batch), supersedes=batch.supersedes,
                sink=sink, source=batch.source, idempotency_key=batch.idempotency_key,
                content_sha256=content_sha256, rows=batch.table.num_rows,
                created_at=datetime.now(UTC))
        run_sql(conn, __file__, "insert_outbox", **_key(batch), batch=to_ipc(batch.table))


def record_attempt(conn: duckdb.DuckDBPyConnection, batch: Batch, detail: str) -> None:
    run_sql(conn, __file__, "record_attempt", **_key(batch), detail=detail[:500])


def record_delivered(conn: duckdb.DuckDBPyConnection, batch: Batch, detail: str | None) -> None:
    run_sql(conn, __file__, "record_delivered", **_key(batch), detail=detail,
            delivered_at=datetime.now(UTC))


def status(conn: duckdb.DuckDBPyConnection) -> list[dict]:
    cursor = run_sql(conn, __file__, "ledger_status")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
