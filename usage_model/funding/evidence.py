"""Evidence read back from the warehouse: Stripe's facts, Downcity's records, and the
topup credits and reversals in the wallet of record (whichever ledger that is)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import duckdb

from usage_model.funding.downcity import metadata
from usage_model.funding.rules import StripeFacts, TopupRecord
from usage_model.funding.verdicts import WalletCredit
from usage_model.sql import run_sql

_REVERSAL_KINDS = ("sub", "refund", "refund_reversal", "dispute", "dispute_reversal")

def load_facts(conn: duckdb.DuckDBPyConnection) -> dict[str, StripeFacts]:
    facts: dict[str, StripeFacts] = {}
    for object_id, kind, text in run_sql(conn, __file__, "stripe_snapshots").fetchall():
        facts.setdefault(object_id, StripeFacts(object_id, kind)).snapshots.append(
            json.loads(text))
    for object_id, event_type in run_sql(conn, __file__, "stripe_event_types").fetchall():
        if object_id in facts:
            facts[object_id].event_types.add(event_type)
    return facts


def load_records(conn: duckdb.DuckDBPyConnection) -> dict[str, TopupRecord]:
    rows = run_sql(conn, __file__, "topup_records").fetchall()
    return {row[0]: TopupRecord(*row) for row in rows}


def downcity_payments(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    return run_sql(conn, __file__, "downcity_payments").fetchall()


def topup_link(entry_id: str, ref: str | None, meta: dict, known: set[str]) -> str | None:
    """The topup a wallet entry names: metadata `topup_id`, a ref that is a topup id (or
    `topup:<id>`), or Downcity's `bal_topup:<id>` entry id; the first that is a known topup,
    else metadata's `topup_id` or the entry id's topup as written."""
    candidates = [meta.get("topup_id"), ref, (ref or "").removeprefix("topup:"),
                  entry_id.removeprefix("bal_topup:") if entry_id.startswith("bal_topup:")
                  else None]
    for candidate in candidates:
        if candidate and str(candidate) in known:
            return str(candidate)
    return str(candidates[0] or candidates[3]) if candidates[0] or candidates[3] else None


@dataclass
class WalletTopups:
    credits: dict[str, list[WalletCredit]]
    reversals: Counter[tuple[str, str]]  # (topup_id, refund|dispute) -> credits taken back
    users: dict[str, str]

    def reversed(self, topup_id: str) -> int:
        return sum(n for (t, _), n in self.reversals.items() if t == topup_id)

    def ledger_rows(self) -> list[tuple[str, str, int, str]]:
        """(kind, topup_id, amount, user_id) as `topup_states` reads them."""
        rows = [("topup", t, c.credits, self.users[t]) for t, cs in self.credits.items()
                for c in cs]
        rows += [(kind, t, -n, self.users[t]) for (t, kind), n in self.reversals.items()]
        return rows


def wallet_topups(conn: duckdb.DuckDBPyConnection, known: set[str]) -> WalletTopups:
    wallet = WalletTopups({}, Counter(), {})
    rows = run_sql(conn, __file__, "wallet_entries").fetchall()
    entries = [(*row[:7], metadata(row[7])) for row in rows]
    # Topups the wallet itself names (Downcity's `bal_topup:<id>` entries) are known too, so a
    # ledger landed without its topups export still links a repeated credit by its ref.
    known = known | {topup_link(e[0], None, e[7], set()) for e in entries} - {None}
    for entry_id, kind, amount, user_id, created_at, note, ref, meta in entries:
        topup_id = topup_link(entry_id, ref, meta, known)
        if topup_id is None:
            continue
        wallet.users.setdefault(topup_id, user_id)
        if kind == "topup":
            wallet.credits.setdefault(topup_id, []).append(
                WalletCredit(entry_id, amount, created_at, note, meta))
        elif kind in _REVERSAL_KINDS:  # Downcity's `sub` counts as a refund reversal
            wallet.reversals[(topup_id, "dispute" if kind.startswith("dispute")
                              else "refund")] -= amount
    return wallet
