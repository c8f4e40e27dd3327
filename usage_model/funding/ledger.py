"""The balance ledger: append-only, exactly once per `ref`, `balances` kept equal to its sum.

Amounts are integer credits (1 USD = 1,000,000 credits). In standalone mode `append_entries`
is the only writer of `balance_ledger` and `balances`; other domains (billing exports) call it
with their own refs. In downcity mode the ledger mirrors Downcity's wallet (see `wallet.py`) and
`append_entries` refuses to write: city-usage never adds credits of its own to that mirror.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from usage_model import clock
from usage_model.warehouse import transaction

_EXISTING_REFS = "SELECT ref FROM balance_ledger WHERE ref IN (SELECT unnest(?::VARCHAR[]))"
_CURRENT_BALANCES = """
SELECT user_id, unit, balance FROM balances
WHERE user_id IN (SELECT unnest(?::VARCHAR[]))
"""
_NEXT_SEQ = "SELECT coalesce(max(seq), 0) + 1 FROM balance_ledger"
_INSERT_ENTRY = """
INSERT INTO balance_ledger (entry_id, user_id, kind, amount, balance_after, unit, note, ref,
                            metadata_json, created_at, seq, source)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ref) DO NOTHING
"""
_UPSERT_BALANCE = """
INSERT INTO balances (user_id, unit, balance, entries, updated_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (user_id, unit) DO UPDATE
SET balance = balances.balance + excluded.balance,
    entries = balances.entries + excluded.entries,
    updated_at = excluded.updated_at
"""
# Rows where `balances` differs from the ledger sum (an empty result is the invariant).
BALANCE_MISMATCHES = """
WITH ledger AS (
    SELECT user_id, unit, sum(amount)::BIGINT AS total, count(*) AS n
    FROM balance_ledger GROUP BY user_id, unit
)
SELECT coalesce(l.user_id, b.user_id) AS user_id, coalesce(l.unit, b.unit) AS unit,
       l.total AS ledger_sum, b.balance AS balance
FROM ledger l FULL OUTER JOIN balances b ON l.user_id = b.user_id AND l.unit = b.unit
WHERE l.total IS DISTINCT FROM b.balance OR l.n IS DISTINCT FROM b.entries
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class LedgerEntry:
    user_id: str
    kind: str
    amount: int
    ref: str
    unit: str = "credits"
    note: str | None = None
    metadata_json: str | None = None
    created_at: datetime | None = None
    source: str = "city-usage"  # stripe for entries derived from Stripe


class DowncityWalletIsReadOnly(RuntimeError):
    """Downcity's ledger is the wallet of record: city-usage writes no entries of its own."""


def wallet_mode(conn: duckdb.DuckDBPyConnection) -> str:
    """`downcity` or `standalone`, as the last reconciliation decided (standalone until then)."""
    rows = conn.execute("SELECT mode FROM funding_mode").fetchall()
    return rows[0][0] if rows else "standalone"


def replace_if_columns_differ(conn: duckdb.DuckDBPyConnection, table: str,
                              columns: Sequence[str]) -> bool:
    """Drop a table rebuilt on every run when an older version made it with other columns
    (the caller re-runs the DDL); True when it was dropped."""
    have = [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position", [table]).fetchall()]
    if have and have != list(columns):
        conn.execute(f"DROP TABLE {table}")
        return True
    return False


def entry_id_for(ref: str) -> str:
    """A stable entry id derived from the ref: rebuilding the ledger gives the same ids."""
    return "bl_" + hashlib.sha256(ref.encode()).hexdigest()[:24]


def _validate(entry: LedgerEntry) -> None:
    if not isinstance(entry.amount, int) or isinstance(entry.amount, bool):
        raise TypeError(f"ledger ref {entry.ref!r}: amount must be an integer, got "
                        f"{type(entry.amount).__name__}")
    if not entry.ref:
        raise ValueError("ledger entry without a ref")
    if not entry.user_id:
        raise ValueError(f"ledger ref {entry.ref!r}: missing user_id")


def append_entries(conn: duckdb.DuckDBPyConnection, entries: Sequence[LedgerEntry]) -> int:
    """Insert entries whose ref is new (ON CONFLICT(ref) DO NOTHING), computing entry_id and
    balance_after; keep `balances` equal to the ledger sum; return how many were inserted.
    Runs in the caller's transaction if one is open."""
    for entry in entries:
        _validate(entry)
    if not entries:
        return 0
    if wallet_mode(conn) == "downcity":
        raise DowncityWalletIsReadOnly(
            f"balance_ledger mirrors Downcity's wallet; not writing {len(entries)} entries of "
            f"city-usage's own (first ref {entries[0].ref!r}); debit through Downcity instead")
    with transaction(conn):
        refs = list(dict.fromkeys(e.ref for e in entries))
        existing = {r for (r,) in conn.execute(_EXISTING_REFS, [refs]).fetchall()}
        fresh: list[LedgerEntry] = []
        seen: set[str] = set(existing)
        for entry in entries:
            if entry.ref not in seen:
                seen.add(entry.ref)
                fresh.append(entry)
        if not fresh:
            return 0
        users = list({e.user_id for e in fresh})
        running = {
            (u, unit): bal for u, unit, bal in conn.execute(_CURRENT_BALANCES, [users]).fetchall()
        }
        seq = conn.execute(_NEXT_SEQ).fetchone()[0]
        now = clock.now()
        rows = []
        deltas: dict[tuple[str, str], list[int]] = {}
        for entry in fresh:
            key = (entry.user_id, entry.unit)
            after = running.get(key, 0) + entry.amount
            running[key] = after
            delta = deltas.setdefault(key, [0, 0])
            delta[0] += entry.amount
            delta[1] += 1
            rows.append((entry_id_for(entry.ref), entry.user_id, entry.kind, entry.amount, after,
                         entry.unit, entry.note, entry.ref, entry.metadata_json,
                         entry.created_at or now, seq, entry.source))
            seq += 1
        conn.executemany(_INSERT_ENTRY, rows)
        conn.executemany(
            _UPSERT_BALANCE, [(u, unit, d[0], d[1], now) for (u, unit), d in deltas.items()]
        )
        return len(rows)


def balance_mismatches(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Users whose `balances` row differs from the ledger sum (empty when the invariant holds)."""
    return conn.execute(BALANCE_MISMATCHES).fetchall()
