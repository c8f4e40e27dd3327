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
from usage_model.warehouse import fetch_one, transaction


@dataclass(frozen=True)
class LedgerRow:
    version: int
    supersedes: int | None
    status: str
    content_sha256: str
    attempts: int


LATEST_SQL = """
SELECT version, supersedes, status, content_sha256, attempts FROM export_ledger
WHERE export = ? AND period = ? ORDER BY version DESC LIMIT 1
"""
PENDING_SQL = """
SELECT l.version, l.supersedes, o.batch FROM export_ledger l
JOIN export_outbox o USING (export, period, version)
WHERE l.export = ? AND l.period = ? AND l.status = 'pending' ORDER BY l.version
"""
INSERT_LEDGER_SQL = """
INSERT INTO export_ledger (export, period, version, supersedes, sink, source, idempotency_key,
    content_sha256, rows, status, attempts, detail, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, NULL, ?)
"""


def latest(conn: duckdb.DuckDBPyConnection, export: str, period: str) -> LedgerRow | None:
    row = fetch_one(conn, LATEST_SQL, [export, period])
    return LedgerRow(*row) if row else None


def pending_batches(
    conn: duckdb.DuckDBPyConnection, export: str, source: str, period: str
) -> list[Batch]:
    return [
        Batch(export, source, period, version, supersedes, from_ipc(blob))
        for version, supersedes, blob in conn.execute(PENDING_SQL, [export, period]).fetchall()
    ]


def record_intent(
    conn: duckdb.DuckDBPyConnection, batch: Batch, sink: str, content_sha256: str
) -> None:
    """Store the version and its exact batch in one transaction, before any delivery."""
    with transaction(conn):
        conn.execute(INSERT_LEDGER_SQL, [
            batch.export, batch.period, batch.version, batch.supersedes, sink, batch.source,
            batch.idempotency_key, content_sha256, batch.table.num_rows, datetime.now(UTC),
        ])
        conn.execute("INSERT INTO export_outbox VALUES (?, ?, ?, ?)",
                     [batch.export, batch.period, batch.version, to_ipc(batch.table)])


def record_attempt(conn: duckdb.DuckDBPyConnection, batch: Batch, detail: str) -> None:
    conn.execute(
        "UPDATE export_ledger SET attempts = attempts + 1, detail = ? "
        "WHERE export = ? AND period = ? AND version = ?",
        [detail[:500], batch.export, batch.period, batch.version],
    )


def record_delivered(conn: duckdb.DuckDBPyConnection, batch: Batch, detail: str | None) -> None:
    conn.execute(
        "UPDATE export_ledger SET status = 'delivered', attempts = attempts + 1, detail = ?, "
        "delivered_at = ? WHERE export = ? AND period = ? AND version = ?",
        [detail, datetime.now(UTC), batch.export, batch.period, batch.version],
    )


STATUS_SQL = """
SELECT export, period, max(version) AS latest_version,
       count(*) FILTER (WHERE status = 'delivered') AS delivered_versions,
       count(*) FILTER (WHERE status = 'pending') AS pending_versions,
       sum(rows) FILTER (WHERE status = 'delivered') AS delivered_rows,
       max(delivered_at) AS last_delivered_at
FROM export_ledger GROUP BY export, period ORDER BY export, period
"""


def status(conn: duckdb.DuckDBPyConnection) -> list[dict]:
    cursor = conn.execute(STATUS_SQL)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
