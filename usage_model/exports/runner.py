"""Run one export for one period: exactly one delivery per batch version.

1. Finish what a crashed or failed run left pending: resend its stored batch, same version,
   same Idempotency-Key, same bytes.
2. Read the period's source. Snapshot sinks (files, webhook, python): when the rows differ
   from the last version, a new version with `supersedes` = that version carries them all.
   Additive sinks (Stripe meter events): the new version carries only the difference.
3. Record the intent (ledger row + batch) and commit, deliver, record the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from usage_model.exports import ledger
from usage_model.exports.batch import Batch, table_sha256
from usage_model.exports.sinks import DeliveryFailed, Sink
from usage_model.exports.sources import read_source
from usage_model.hooks.config import ExportConfig
from usage_model.hooks.protocol import Period

# Additive sinks turn (source rows, conn, export, period, version) into the difference batch.
DiffBuilder = Callable[[duckdb.DuckDBPyConnection, pa.Table, ExportConfig, Period, int], pa.Table]


@dataclass
class ExportOutcome:
    export: str
    period: str
    status: str = "up_to_date"          # up_to_date | delivered | nothing_to_send
    versions_delivered: list[int] = field(default_factory=list)
    resent_pending: list[int] = field(default_factory=list)
    rows_delivered: int = 0
    source_rows: int = 0
    content_sha256: str = ""
    notes: list[str] = field(default_factory=list)


def _deliver(conn: duckdb.DuckDBPyConnection, sink: Sink, batch: Batch) -> str:
    try:
        note = sink.deliver(batch)
    except DeliveryFailed as exc:
        ledger.record_attempt(conn, batch, str(exc))
        raise DeliveryFailed(f"export {batch.export} {batch.period} v{batch.version}: {exc}") \
            from None
    ledger.record_delivered(conn, batch, note)
    return note


def run_export(
    conn: duckdb.DuckDBPyConnection,
    config: ExportConfig,
    period: Period,
    sink: Sink,
    *,
    diff: DiffBuilder | None = None,
) -> ExportOutcome:
    outcome = ExportOutcome(config.name, period.key)
    for batch in ledger.pending_batches(conn, config.name, config.source, period.key):
        outcome.notes.append(_deliver(conn, sink, batch))
        outcome.resent_pending.append(batch.version)
        outcome.rows_delivered += batch.table.num_rows

    source = read_source(conn, config.source, period)
    outcome.source_rows = source.num_rows
    outcome.content_sha256 = table_sha256(source)
    last = ledger.latest(conn, config.name, period.key)
    if last is not None and last.content_sha256 == outcome.content_sha256:
        if outcome.resent_pending:
            outcome.status = "delivered"
        return outcome
    if last is None and source.num_rows == 0:
        outcome.status = "nothing_to_send"
        return outcome

    version = 1 if last is None else last.version + 1
    if config.additive:
        assert diff is not None, "an additive sink needs a diff builder"
        rows, supersedes = diff(conn, source, config, period, version), None
    else:
        rows, supersedes = source, (last.version if last else None)
    batch = Batch(config.name, config.source, period.key, version, supersedes, rows)
    ledger.record_intent(conn, batch, config.sink, outcome.content_sha256)
    outcome.notes.append(_deliver(conn, sink, batch))
    outcome.versions_delivered.append(version)
    outcome.rows_delivered += rows.num_rows
    outcome.status = "delivered"
    return outcome
