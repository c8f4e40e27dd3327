"""Downcity exports landed as Parquet: `landing/balance/topups/` and `landing/balance/payments/`.

Files are read one by one so a bad file is rejected with its reason while the others load.
The latest row per id wins (by `updated_at`, then file path, then row order).

Rejections (one `downcity_rejects` row each, naming file, row and reason; never dropped):
whole file: `unreadable_file` (not Parquet, truncated, empty), `schema_mismatch` (a required
column is absent); topup row: `missing_topup_id`, `missing_user_id`, `bad_amount` (null, not an
integer, or fractional credits), `non_positive_amount`, `bad_unit` (not credits), `bad_status`
(not one of `TOPUP_STATUSES`); payments: `unreadable_file`, `schema_mismatch` (no
payment_id or id column), `missing_payment_id`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

TOPUP_COLUMNS = ("topup_id", "user_id", "amount", "unit", "status", "note", "ref",
                 "metadata_json", "created_at", "updated_at")
REQUIRED_TOPUP_COLUMNS = ("topup_id", "user_id", "amount", "status")
# Downcity's topup statuses and the synonyms other exports use (compared case-insensitively).
TOPUP_STATUSES = frozenset({
    "pending", "paid", "succeeded", "success", "complete", "completed", "credited",
    "failed", "cancelled", "canceled", "expired", "refunded",
})
_READ_FILE = "SELECT * FROM read_parquet(?, hive_partitioning = false)"
_UPSERT_TOPUP = """
INSERT OR REPLACE INTO downcity_topups
    (topup_id, user_id, amount, unit, status, note, ref, metadata_json, created_at, updated_at,
     source_file)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_UPSERT_PAYMENT = "INSERT OR REPLACE INTO downcity_payments VALUES (?, ?, ?)"
_REJECT = "INSERT INTO downcity_rejects VALUES (?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True)
class LoadResult:
    files: int
    rows: int
    loaded: int
    rejected: int


def _files(root: Path) -> list[Path]:
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*.parquet")
                  if not p.name.startswith(("_", ".")) and p.is_file())


def _as_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal) and value == value and value % 1 == 0:
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"not an integer: {value!r}")


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


# DuckDB cannot open or decode the file; Python cannot hold a value (year 10000 and such).
_UNREADABLE = (duckdb.Error, ValueError, OverflowError)


class RowRejected(ValueError):
    """A landed row that cannot be used: `reason` plus a one-line detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _valid_topup(record: dict[str, object]) -> dict[str, object]:
    """The record with an integer amount, or RowRejected with the first reason that applies."""
    if record["topup_id"] is None or str(record["topup_id"]) == "":
        raise RowRejected("missing_topup_id", "no topup_id")
    if record["user_id"] is None or str(record["user_id"]) == "":
        raise RowRejected("missing_user_id", "no user_id (wallets are keyed by user)")
    if record["amount"] is None:
        raise RowRejected("bad_amount", "amount is null")
    try:
        amount = _as_int(record["amount"])
    except ValueError as exc:
        raise RowRejected("bad_amount", f"amount {exc}") from None
    if amount is None or amount <= 0:
        raise RowRejected("non_positive_amount", f"amount {amount} is not a positive credit count")
    unit = _text(record["unit"])
    if unit not in (None, "", "credits"):
        raise RowRejected("bad_unit", f"unit {unit!r}: expected 'credits'")
    status = _text(record["status"])
    if status is None or status.strip().lower() not in TOPUP_STATUSES:
        raise RowRejected("bad_status", f"status {status!r}: expected one of "
                          f"{', '.join(sorted(TOPUP_STATUSES))}")
    return {**record, "amount": amount}


def _read_rows(conn: duckdb.DuckDBPyConnection, path: Path) -> tuple[list[str], list[tuple]]:
    # A cursor of its own: a file DuckDB cannot read must not abort the load's transaction.
    reader = conn.cursor()
    try:
        cur = reader.execute(_READ_FILE, [str(path)])
        columns = [d[0] for d in cur.description]
        return columns, cur.fetchall()
    finally:
        reader.close()


def load(conn: duckdb.DuckDBPyConnection, balance_root: Path) -> dict[str, LoadResult]:
    """Refresh `downcity_topups` and `downcity_payments` from every landed file."""
    now = datetime.now(UTC)
    results = {}
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute("DELETE FROM downcity_rejects")
        conn.execute("DELETE FROM downcity_topups")
        conn.execute("DELETE FROM downcity_payments")
        results["topups"] = _load_topups(conn, balance_root, now)
        results["payments"] = _load_payments(conn, balance_root, now)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return results


def _reject(conn, rel: str, row: int | None, reason: str, detail: str, raw: object, now) -> None:
    conn.execute(_REJECT, [rel, row, reason, detail,
                           json.dumps(raw, default=str) if raw is not None else None, now])


def _reject_unreadable(conn, rel: str, exc: Exception, now: datetime) -> None:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    _reject(conn, rel, None, "unreadable_file", f"{rel}: not a readable Parquet file ({reason})",
            None, now)


def _load_topups(conn: duckdb.DuckDBPyConnection, root: Path, now: datetime) -> LoadResult:
    folder = root / "topups"
    files = _files(folder)
    best: dict[str, tuple] = {}
    rows_total = rejected = 0
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            columns, rows = _read_rows(conn, path)
        except _UNREADABLE as exc:
            _reject_unreadable(conn, rel, exc, now)
            rejected += 1
            continue
        missing = [c for c in REQUIRED_TOPUP_COLUMNS if c not in columns]
        if missing:
            _reject(conn, rel, None, "schema_mismatch",
                    f"{rel}: missing column(s) {', '.join(missing)} ({len(rows)} rows)", None,
                    now)
            rejected += 1
            continue
        for index, values in enumerate(rows):
            rows_total += 1
            raw = dict(zip(columns, values, strict=True))
            try:
                record = _valid_topup({c: raw.get(c) for c in TOPUP_COLUMNS})
            except RowRejected as exc:
                _reject(conn, rel, index, exc.reason, f"{rel} row {index}: {exc}", raw, now)
                rejected += 1
                continue
            key = (_text(record["updated_at"]) or "", rel, index)
            current = best.get(str(record["topup_id"]))
            if current is None or key >= current[0]:
                best[str(record["topup_id"])] = (key, record, rel)
    for topup_id, (_key, rec, rel) in best.items():
        conn.execute(_UPSERT_TOPUP, [topup_id, _text(rec["user_id"]), rec["amount"],
                                     _text(rec["unit"]) or "credits", _text(rec["status"]),
                                     _text(rec["note"]), _text(rec["ref"]),
                                     _text(rec["metadata_json"]), _text(rec["created_at"]),
                                     _text(rec["updated_at"]), rel])
    return LoadResult(len(files), rows_total, len(best), rejected)


def _load_payments(conn: duckdb.DuckDBPyConnection, root: Path, now: datetime) -> LoadResult:
    folder = root / "payments"
    files = _files(folder)
    rows_total = rejected = loaded = 0
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            columns, rows = _read_rows(conn, path)
        except _UNREADABLE as exc:
            _reject_unreadable(conn, rel, exc, now)
            rejected += 1
            continue
        id_column = "payment_id" if "payment_id" in columns else "id" if "id" in columns else None
        if id_column is None:
            _reject(conn, rel, None, "schema_mismatch",
                    f"{rel}: missing column payment_id (or id) ({len(rows)} rows)", None, now)
            rejected += 1
            continue
        for index, values in enumerate(rows):
            rows_total += 1
            raw = dict(zip(columns, values, strict=True))
            if raw.get(id_column) is None or str(raw[id_column]) == "":
                _reject(conn, rel, index, "missing_payment_id",
                        f"{rel} row {index}: no payment_id", raw, now)
                rejected += 1
                continue
            conn.execute(_UPSERT_PAYMENT, [str(raw[id_column]), json.dumps(raw, default=str), rel])
            loaded += 1
    return LoadResult(len(files), rows_total, loaded, rejected)
