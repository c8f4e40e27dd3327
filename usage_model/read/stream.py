"""Curated events produced batch by batch, so any `limit` reads in bounded memory.

A stream walks the day files in day order (days are disjoint in time, so per-group ordering is
the global `(occurred_at, event_id)` order) and asks DuckDB for each group's rows through an
Arrow record batch reader. While it runs, the shared engine's `memory_limit` is lowered to
`MEMORY_LIMIT` and its sorts spill to the engine's temporary folder, and Python holds one
batch (`BATCH_ROWS` rows) at a time. Peak RSS: the process (~150 MB with the CLI's imports) +
`MEMORY_LIMIT` + what DuckDB's Parquet reader and Arrow export keep outside it, whatever the
limit (measured in README.md: under 550 MB)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from usage_model.read.cursor import encode_cursor
from usage_model.read.engine import engine
from usage_model.read.sql import EVENTS_VIEW
from usage_model.storage import Location
from usage_model.usage import layout
from usage_model.usage.event_model import CURATED_SCHEMA

BATCH_ROWS = 16_384
MEMORY_LIMIT = "256MB"
# Past this many rows still wanted, one day file per query (see `__iter__`).
_SMALL_REMAINDER = 100_000


@contextmanager
def _bounded(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Lower DuckDB's memory limit for this block (sorts beyond it spill to the engine's
    temp folder); the engine's own limit is restored after."""
    (limit,) = conn.execute("SELECT current_setting('memory_limit')").fetchone()
    conn.execute("SET memory_limit = $m", {"m": MEMORY_LIMIT})
    try:
        yield
    finally:
        conn.execute("SET memory_limit = $m", {"m": limit})


@dataclass
class EventStream:
    """The events of one request; iterate once. `next_cursor` is known after the last batch.
    `query` reads the view `EVENTS_VIEW`, registered over each group of `files` in turn."""

    query: str
    params: dict[str, object]
    events: Location
    files: list[str]
    limit: int
    batch_rows: int = BATCH_ROWS
    schema: pa.Schema = CURATED_SCHEMA
    rows: int = 0
    _last: tuple[datetime, str] | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        with engine() as conn, _bounded(conn):
            start, size = 0, 1
            while start < len(self.files) and self.rows < self.limit:
                group = self.files[start:start + size]
                start += len(group)
                layout.register_events(conn, self.events, group, EVENTS_VIEW)
                params = {**self.params, "limit": self.limit - self.rows}
                reader = conn.sql(self.query, params=params).to_arrow_reader(self.batch_rows)
                try:
                    for batch in reader:
                        if batch.num_rows:
                            yield self._take(batch.cast(self.schema))
                finally:  # a consumer that stops early leaves no open result behind
                    reader.close()
                # Growing groups (1, 2, 4 ... 64 days) keep a small page cheap; a query sorts
                # its whole group when its LIMIT is large, so then one day at a time.
                small = self.limit - self.rows <= _SMALL_REMAINDER
                size = min(size * 2, 64) if small else 1

    def _take(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.rows += batch.num_rows
        last = batch.slice(batch.num_rows - 1).to_pylist()[0]
        self._last = (last["occurred_at"], last["event_id"])
        return batch

    @property
    def next_cursor(self) -> str | None:
        """The cursor of the page after this one; None when this page was the last."""
        if self._last is None or self.rows < self.limit:
            return None
        return encode_cursor(self._last[0].astimezone(UTC), self._last[1])

    def read_all(self) -> pa.Table:
        """The whole page as one table (for a library caller asking for a page)."""
        return pa.Table.from_batches(list(self), schema=self.schema).combine_chunks()
