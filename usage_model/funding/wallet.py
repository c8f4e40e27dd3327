"""The wallet of record: Downcity's own ledger when it has landed, else the Stripe-derived one.

- **downcity** mode: at least one entry of Downcity's `service_balance_ledger` export has
  landed (`downcity_ledger` is not empty). `balance_ledger` is then rebuilt on every run as an
  entry-for-entry mirror of it (`source = 'downcity'`, Downcity's `entry_id`, kind, signed
  credits, balance after, time; `ref = 'downcity:<entry_id>'` keeps refs unique and Downcity's
  own ref is `source_ref`), `balances` is its sum per user, and city-usage writes nothing of its
  own there. Where Downcity's accounts have landed, a user whose account credits differ from
  Downcity's own ledger sum is an `account_ledger_mismatch`.
- **standalone** mode: no Downcity ledger; `balance_ledger` is derived from Stripe (rules.py) and
  mirrored Downcity entries from an earlier run, if any, are removed.

The decision is stored in `funding_mode` (one row: mode, the reason, how many Downcity entries).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

DOWNCITY, STANDALONE = "downcity", "standalone"
_MIRROR = """
INSERT INTO balance_ledger (entry_id, user_id, kind, amount, balance_after, unit, note, ref,
                            metadata_json, created_at, seq, source, source_ref)
SELECT entry_id, user_id, kind, credits_delta,
       coalesce(credits_after, sum(credits_delta) OVER (
           PARTITION BY user_id ORDER BY created_at NULLS FIRST, entry_id
           ROWS UNBOUNDED PRECEDING))::BIGINT,
       'credits', note, 'downcity:' || entry_id, metadata_json, coalesce(created_at, $now),
       row_number() OVER (ORDER BY created_at NULLS FIRST, entry_id), 'downcity', ref
FROM downcity_ledger
"""
_REBUILD_BALANCES = """
INSERT INTO balances (user_id, unit, balance, entries, updated_at)
SELECT user_id, unit, sum(amount)::BIGINT, count(*), $now FROM balance_ledger
GROUP BY user_id, unit
"""
# Users whose Downcity account credits differ from Downcity's own ledger sum. A user with
# ledger entries and no account row counts as an account of 0 credits (and the reverse).
ACCOUNT_MISMATCHES = """
WITH ledger AS (
    SELECT user_id, sum(credits_delta)::BIGINT AS total FROM downcity_ledger GROUP BY user_id
)
SELECT coalesce(a.user_id, l.user_id) AS user_id, a.credits AS account_credits,
       l.total AS ledger_credits
FROM downcity_accounts a FULL OUTER JOIN ledger l ON a.user_id = l.user_id
WHERE coalesce(a.credits, 0) <> coalesce(l.total, 0)
ORDER BY 1
"""


@dataclass(frozen=True)
class Mode:
    mode: str
    reason: str
    downcity_entries: int


def decide_mode(conn: duckdb.DuckDBPyConnection) -> Mode:
    entries = conn.execute("SELECT count(*) FROM downcity_ledger").fetchall()[0][0]
    if entries:
        return Mode(DOWNCITY, "Downcity's ledger export landed (landing/balance/ledger/): its "
                    "wallet is the ledger of record", entries)
    return Mode(STANDALONE, "no Downcity ledger export landed (landing/balance/ledger/): the "
                "ledger is derived from Stripe", 0)


def record_mode(conn: duckdb.DuckDBPyConnection, mode: Mode, now: datetime) -> None:
    conn.execute("DELETE FROM funding_mode")
    conn.execute("INSERT INTO funding_mode VALUES (?, ?, ?, ?)",
                 [mode.mode, mode.reason, mode.downcity_entries, now])


def _rebuild_balances(conn: duckdb.DuckDBPyConnection, now: datetime) -> None:
    conn.execute("DELETE FROM balances")
    conn.execute(_REBUILD_BALANCES, {"now": now})


def mirror_downcity_ledger(conn: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Rebuild `balance_ledger` and `balances` from `downcity_ledger`; return the entries."""
    conn.execute("DELETE FROM balance_ledger")
    conn.execute(_MIRROR, {"now": now})
    _rebuild_balances(conn, now)
    return conn.execute("SELECT count(*) FROM balance_ledger").fetchall()[0][0]


def drop_mirror(conn: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Standalone again: remove mirrored Downcity entries (if any); return how many."""
    removed = conn.execute(
        "SELECT count(*) FROM balance_ledger WHERE source = 'downcity'").fetchall()[0][0]
    if removed:
        conn.execute("DELETE FROM balance_ledger WHERE source = 'downcity'")
        _rebuild_balances(conn, now)
    return removed


def account_mismatches(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, int | None, int | None]]:
    """(user_id, account credits, ledger sum) where they differ; empty without accounts."""
    if not conn.execute("SELECT count(*) FROM downcity_accounts").fetchall()[0][0]:
        return []
    return conn.execute(ACCOUNT_MISMATCHES).fetchall()
