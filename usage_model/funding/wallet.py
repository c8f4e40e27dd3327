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

from usage_model.sql import run_sql

DOWNCITY, STANDALONE = "downcity", "standalone"


@dataclass(frozen=True)
class Mode:
    mode: str
    reason: str
    downcity_entries: int


def decide_mode(conn: duckdb.DuckDBPyConnection) -> Mode:
    entries = _count(conn, "downcity_ledger")
    if entries:
        return Mode(DOWNCITY, "Downcity's ledger export landed (landing/balance/ledger/): its "
                    "wallet is the ledger of record", entries)
    return Mode(STANDALONE, "no Downcity ledger export landed (landing/balance/ledger/): the "
                "ledger is derived from Stripe", 0)


def record_mode(conn: duckdb.DuckDBPyConnection, mode: Mode, now: datetime) -> None:
    run_sql(conn, __file__, "delete_all", idents={"table": "funding_mode"})
    run_sql(conn, __file__, "record_mode", mode=mode.mode, reason=mode.reason,
            downcity_ledger_entries=mode.downcity_entries, decided_at=now)


def _rebuild_balances(conn: duckdb.DuckDBPyConnection, now: datetime) -> None:
    run_sql(conn, __file__, "delete_all", idents={"table": "balances"})
    run_sql(conn, __file__, "rebuild_balances", now=now)


def mirror_downcity_ledger(conn: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Rebuild `balance_ledger` and `balances` from `downcity_ledger`; return the entries."""
    run_sql(conn, __file__, "delete_all", idents={"table": "balance_ledger"})
    run_sql(conn, __file__, "mirror_downcity_ledger", now=now)
    _rebuild_balances(conn, now)
    return _count(conn, "balance_ledger")


def drop_mirror(conn: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Standalone again: remove mirrored Downcity entries (if any); return how many."""
    removed = run_sql(conn, __file__, "count_mirrored").fetchall()[0][0]
    if removed:
        run_sql(conn, __file__, "drop_mirrored")
        _rebuild_balances(conn, now)
    return removed


def account_mismatches(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, int | None, int | None]]:
    """(user_id, account credits, ledger sum) where they differ; empty without accounts."""
    if not _count(conn, "downcity_accounts"):
        return []
    return run_sql(conn, __file__, "account_mismatches").fetchall()


def _count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    return run_sql(conn, __file__, "count_rows", idents={"table": table}).fetchall()[0][0]
