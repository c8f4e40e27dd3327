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
from usage_model.sql import run_sql, run_sql_many
from usage_model.warehouse import transaction


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
    rows = run_sql(conn, __file__, "funding_mode").fetchall()
    return rows[0][0] if rows else "standalone"


def replace_if_columns_differ(conn: duckdb.DuckDBPyConnection, table: str,
                              columns: Sequence[str]) -> bool:
    """Drop a table rebuilt on every run when an older version made it with other columns
    (the caller re-runs the DDL); True when it was dropped."""
    have = [r[0] for r in run_sql(conn, __file__, "table_columns", table=table).fetchall()]
    if have and have != list(columns):
        run_sql(conn, __file__, "drop_table", idents={"table": table})
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
        existing = {r for (r,) in run_sql(conn, __file__, "existing_refs", refs=refs).fetchall()}
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
            (u, unit): bal
            for u, unit, bal in run_sql(conn, __file__, "current_balances", users=users).fetchall()
        }
        seq = run_sql(conn, __file__, "next_seq").fetchall()[0][0]
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
            rows.append({
                "entry_id": entry_id_for(entry.ref), "user_id": entry.user_id,
                "kind": entry.kind, "amount": entry.amount, "balance_after": after,
                "unit": entry.unit, "note": entry.note, "ref": entry.ref,
                "metadata_json": entry.metadata_json, "created_at": entry.created_at or now,
                "seq": seq, "source": entry.source,
            })
            seq += 1
        run_sql_many(conn, __file__, "insert_entry", rows)
        run_sql_many(conn, __file__, "upsert_balance", [
            {"user_id": u, "unit": unit, "balance": d[0], "entries": d[1], "updated_at": now}
            for (u, unit), d in deltas.items()
        ])
        return len(rows)


def balance_mismatches(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Users whose `balances` row differs from the ledger sum (empty when the invariant holds)."""
    return run_sql(conn, __file__, "balance_mismatches").fetchall()
