"""Helpers for the usage ingestion behaviour tests: real Parquet files in a real landing
folder, a real DuckDB warehouse, and the accounting every test checks afterwards.

Expected values are always computed by the tests from their own inputs; these helpers only
write inputs and read back what the pipeline produced.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from usage_model import faults
from usage_model.config import Settings
from usage_model.usage import id_index, intents, layout
from usage_model.usage.ingest import BuildResult, ScanResult, build_days, day_path, scan_landing
from usage_model.warehouse import connect

# A fixed "now" for every scan, so that future_event is deterministic.
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)

_mtime_counter = [1_700_000_000]


def valid_row(event_id: str, **overrides: Any) -> dict[str, Any]:
    """A row that breaks no rule (native shape, typed timestamp)."""
    row: dict[str, Any] = {
        "event_id": event_id,
        "occurred_at": T0,
        "city_id": "city-1",
        "user_id": "user-1",
        "service": "chat",
        "model_id": "model-a",
        "status": "success",
        "input_tokens": 10,
        "output_tokens": 20,
        "latency_ms": 150.0,
    }
    row.update(overrides)
    return row


NATIVE_TYPES: dict[str, pa.DataType] = {
    "event_id": pa.string(),
    "occurred_at": pa.timestamp("us", tz="UTC"),
    "city_id": pa.string(),
    "town_id": pa.string(),
    "user_id": pa.string(),
    "service": pa.string(),
    "model_id": pa.string(),
    "model": pa.string(),
    "provider": pa.string(),
    "status": pa.string(),
    "error": pa.string(),
    "input_tokens": pa.int64(),
    "output_tokens": pa.int64(),
    "cached_input_tokens": pa.int64(),
    "reasoning_tokens": pa.int64(),
    "latency_ms": pa.float64(),
    "cost_credits": pa.int64(),
    "metadata_json": pa.string(),
    "created_at": pa.string(),
}


def table_of(rows: list[dict[str, Any]], types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """A table with the union of the rows' keys as columns (in first-seen order)."""
    types = {**NATIVE_TYPES, **(types or {})}
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    schema = pa.schema([(n, types.get(n, pa.string())) for n in names])
    return pa.Table.from_pylist(rows, schema=schema)


def _bump_mtime(path: Path) -> None:
    """Give every written file a distinct mtime, so a rewrite is always seen as a change."""
    _mtime_counter[0] += 10
    os.utime(path, ns=(_mtime_counter[0] * 10**9, _mtime_counter[0] * 10**9))


def land(settings: Settings, relative: str, data: pa.Table | list[dict[str, Any]] | bytes,
         types: dict[str, pa.DataType] | None = None) -> Path:
    """Write one landed file under landing/usage (a table, rows, or raw bytes)."""
    path = settings.usage_landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        table = data if isinstance(data, pa.Table) else table_of(data, types)
        pq.write_table(table, path)
    _bump_mtime(path)
    return path


@dataclass
class Outcome:
    scan: ScanResult
    build: BuildResult
    quarantine: list[dict[str, Any]]
    curated: list[dict[str, Any]]  # every curated row of every day folder

    def reasons(self) -> dict[tuple[str, int | None], str]:
        return {(q["source_file"], q["source_row"]): q["reason"] for q in self.quarantine}

    def accepted_ids(self) -> list[str]:
        return sorted(r["event_id"] for r in self.curated)

    def by_id(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for r in self.curated:
            assert r["event_id"] not in out, f"event_id {r['event_id']!r} curated twice"
            out[r["event_id"]] = r
        return out


def _rows(conn: Any, sql: str) -> list[dict[str, Any]]:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def read_curated(settings: Settings) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    events = settings.events_location()
    for _, path in layout.day_files(events):
        rows.extend(pq.read_table(path, filesystem=events.fs).to_pylist())
    return rows


def curated_day(settings: Settings, day: date) -> pa.Table | None:
    path = day_path(settings, day)
    return pq.read_table(path) if path.exists() else None


def ingest(settings: Settings, *, now: datetime = NOW, extra_days: Iterable[date] = (),
           only_touched: bool = False) -> Outcome:
    """Scan the landing folder, then rebuild every day the warehouse knows of (so the whole
    warehouse is current and conservation can be checked over it), or with `only_touched`
    just the days the scan reports as touched (what a sensor would rebuild)."""
    with connect(settings.warehouse) as conn:
        scan = scan_landing(conn, settings, now=now)
        known = set() if only_touched else {r[0] for r in conn.execute(
            "SELECT day FROM usage_file_days UNION SELECT day FROM usage_day_loads"
        ).fetchall()}
        days = known | scan.days_touched | set(extra_days)
        build = build_days(conn, settings, days, now=now)
        quarantine = _rows(conn, "SELECT * FROM usage_quarantine ORDER BY source_file, source_row")
    return Outcome(scan, build, quarantine, read_curated(settings))


def conservation(settings: Settings) -> dict[str, int]:
    """rows read (files that were read) vs accepted + identical duplicates + quarantined."""
    with connect(settings.warehouse) as conn:
        rows_read = conn.execute(
            "SELECT coalesce(sum(rows_read), 0) FROM usage_files").fetchall()[0][0]
        identical = conn.execute(
            "SELECT coalesce(sum(identical_duplicates), 0) FROM usage_day_loads"
        ).fetchall()[0][0]
        loads_accepted = conn.execute(
            "SELECT coalesce(sum(accepted), 0) FROM usage_day_loads").fetchall()[0][0]
        quarantined = conn.execute(
            "SELECT count(*) FILTER (WHERE source_row IS NOT NULL) "
            "+ coalesce(sum(row_count) FILTER (WHERE source_row IS NULL), 0) "
            "FROM usage_quarantine"
        ).fetchall()[0][0]
    accepted = len(read_curated(settings))
    return {
        "rows_read": int(rows_read),
        "accepted": accepted,
        "loads_accepted": int(loads_accepted),
        "identical": int(identical),
        "quarantined": int(quarantined),
    }


def assert_conserved(settings: Settings, *, rows_landed: int) -> dict[str, int]:
    """Every landed row (of the files whose rows could be counted) is in exactly one place."""
    c = conservation(settings)
    assert c["rows_read"] == rows_landed, c
    assert c["accepted"] == c["loads_accepted"], c
    assert c["accepted"] + c["identical"] + c["quarantined"] == rows_landed, c
    return c


def twin_settings(settings: Settings, root: Path) -> Settings:
    """The same rules over a separate, empty layout under `root`."""
    data = root / "data"
    return replace(settings, data_dir=data, landing=data / "landing",
                   warehouse=data / "warehouse.duckdb", curated=data / "curated",
                   exports=data / "exports")


def warehouse_state(settings: Settings) -> dict[str, Any]:
    """Everything a build leaves: quarantine, day loads, intents, the index rows and the record
    of repeated ids."""
    with connect(settings.warehouse) as conn:
        id_index.install_view(conn, settings)
        index = conn.execute("SELECT event_id, day, f.path, source_row FROM usage_event_index "
                             "JOIN usage_files f USING (file_id) ORDER BY ALL").fetchall()
        quarantine = conn.execute(
            "SELECT source_file, source_row, event_id, day, reason, detail "
            "FROM usage_quarantine ORDER BY ALL").fetchall()
        loads = conn.execute(
            "SELECT day, rows_indexed, accepted, identical_duplicates, conflicts "
            "FROM usage_day_loads ORDER BY day").fetchall()
        repeated = conn.execute("SELECT event_id, day, f.path, source_row FROM usage_repeated_ids "
                                "JOIN usage_files f USING (file_id) ORDER BY ALL").fetchall()
        pending = intents.pending(conn, [intents.EVENTS])
    return {"index": index, "repeated": repeated, "quarantine": quarantine, "loads": loads,
            "pending": pending}


@contextmanager
def fault_armed(monkeypatch: Any, spec: str) -> Iterator[None]:
    """CITY_USAGE_FAULT_POINT set to `spec` (e.g. `before_index_commit:1:raise`) inside the
    block, with the points' counters reset; disarmed after it."""
    monkeypatch.setenv("CITY_USAGE_FAULT_POINT", spec)
    faults._spec.cache_clear()
    monkeypatch.setattr(faults, "_hits", [0])
    try:
        yield
    finally:
        monkeypatch.delenv("CITY_USAGE_FAULT_POINT")
        faults._spec.cache_clear()
