"""Apply the funding rules to the warehouse: wallet mode, ledger, exceptions, topups, report."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from usage_model.funding.config import FundingConfig
from usage_model.funding.currency import UnsupportedCurrency, to_credits
from usage_model.funding.downcity import metadata
from usage_model.funding.ledger import (
    append_entries,
    replace_if_columns_differ,
    transaction,
    wallet_mode,
)
from usage_model.funding.rules import (
    FUNDING_KINDS,
    Credit,
    Exception_,
    Payment,
    Reversed,
    StripeFacts,
    TopupRecord,
    build_payments,
    chosen_payment,
    derive,
    stripe_reversals,
    topup_states,
)
from usage_model.funding.verdicts import (
    DowncityPayment,
    StripePayment,
    TopupEvidence,
    Verdict,
    WalletCredit,
    payment_verdict,
    topup_verdict,
)
from usage_model.funding.wallet import (
    DOWNCITY,
    account_mismatches,
    decide_mode,
    drop_mirror,
    mirror_downcity_ledger,
    record_mode,
)
from usage_model.warehouse import ensure_schema

_SNAPSHOTS = "SELECT id, type, json FROM stripe_objects ORDER BY id, first_seen_at, snapshot_hash"
_EVENT_TYPES = "SELECT object_id, type FROM stripe_events WHERE object_id IS NOT NULL"
_RECORDS = "SELECT topup_id, user_id, credits, status, created_at FROM downcity_topups"
_DOWNCITY_PAYMENTS = """
SELECT payment_id, topup_id, status, credits, currency FROM downcity_payments
ORDER BY coalesce(updated_at, created_at) NULLS FIRST, payment_id
"""
_FUNDING_LEDGER = f"""
SELECT kind, user_id, amount, metadata_json FROM balance_ledger
WHERE kind IN ({", ".join(repr(k) for k in FUNDING_KINDS)}) AND source <> 'downcity' ORDER BY seq
"""
# Entries of the wallet of record that can name a topup (credits and reversals).
_WALLET_ENTRIES = """
SELECT entry_id, kind, amount, user_id, created_at, note, coalesce(source_ref, ref),
       metadata_json
FROM balance_ledger WHERE kind IN ('topup', 'sub', 'refund', 'refund_reversal', 'dispute',
                                   'dispute_reversal')
ORDER BY seq
"""
_REVERSAL_KINDS = ("sub", "refund", "refund_reversal", "dispute", "dispute_reversal")
_PREVIOUS_EXCEPTIONS = (
    "SELECT reason, stripe_object_id, first_seen_at FROM reconciliation_exceptions")
_INSERT_EXCEPTION = """
INSERT INTO reconciliation_exceptions
    (reason, topup_id, stripe_object_id, user_id, detail, first_seen_at, credits_at_stake)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
_INSERT_TOPUP = "INSERT INTO topups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
REPORT_COLUMNS = (
    "report_key", "row_kind", "topup_id", "user_id", "downcity_status", "downcity_amount",
    "stripe_state", "stripe_amount", "ledger_credits", "ledger_state", "verdict", "detail",
    "stale_pending", "user_balance", "built_at", "credits_at_stake", "evidence",
    "stripe_payment", "downcity_payment_id", "downcity_payment_status", "credited_by",
    "credited_at", "wallet_mode",
)
_INSERT_REPORT = (f"INSERT INTO reconciliation_report ({', '.join(REPORT_COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(REPORT_COLUMNS))})")
_BALANCES = "SELECT user_id, balance FROM balances WHERE unit = 'credits'"
# Credits per verdict, for `city-usage report` and the HTML report: how much wallet credit
# each verdict concerns (for ok: the backed credits; for the rest: the credits at stake).
FUNDING_BY_VERDICT_SQL = """
SELECT verdict, count(*) FILTER (WHERE row_kind = 'topup') AS topups,
       count(*) FILTER (WHERE row_kind = 'stripe_payment') AS payments,
       sum(credits_at_stake)::BIGINT AS credits
FROM reconciliation_report GROUP BY verdict ORDER BY credits DESC, verdict
"""


@dataclass(frozen=True)
class ReconcileResult:
    entries_inserted: int
    exceptions: dict[str, int]
    topup_states: dict[str, int]
    mode: str = "standalone"
    mirrored_entries: int = 0


def load_facts(conn: duckdb.DuckDBPyConnection) -> dict[str, StripeFacts]:
    facts: dict[str, StripeFacts] = {}
    for object_id, kind, text in conn.execute(_SNAPSHOTS).fetchall():
        facts.setdefault(object_id, StripeFacts(object_id, kind)).snapshots.append(
            json.loads(text))
    for object_id, event_type in conn.execute(_EVENT_TYPES).fetchall():
        if object_id in facts:
            facts[object_id].event_types.add(event_type)
    return facts


def load_records(conn: duckdb.DuckDBPyConnection) -> dict[str, TopupRecord]:
    return {row[0]: TopupRecord(*row) for row in conn.execute(_RECORDS).fetchall()}


def _downcity_payments(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    return conn.execute(_DOWNCITY_PAYMENTS).fetchall()


def _payment_currencies(rows: Iterable[tuple]) -> dict[str, str]:
    """Currency per Downcity payment id (and per topup id when the row names one)."""
    out = {}
    for payment_id, topup_id, _status, _credits, currency in rows:
        if currency:
            out[payment_id] = currency
            if topup_id:
                out[topup_id] = currency
    return out


def _credits(conn: duckdb.DuckDBPyConnection) -> dict[str, Credit]:
    """What the standalone (Stripe-derived) ledger has credited, per topup."""
    out = {}
    for kind, user_id, amount, meta in conn.execute(_FUNDING_LEDGER).fetchall():
        meta = json.loads(meta) if meta else {}
        if kind == "topup" and meta.get("topup_id"):
            ids = frozenset(i for i in (meta.get("checkout_session"), meta.get("payment_intent"))
                            if i)
            out[meta["topup_id"]] = Credit(meta["topup_id"], user_id, amount, ids)
    return out


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
class _Wallet:
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


def _wallet(conn: duckdb.DuckDBPyConnection, known: set[str]) -> _Wallet:
    wallet = _Wallet({}, Counter(), {})
    entries = [(*row[:7], metadata(row[7])) for row in conn.execute(_WALLET_ENTRIES).fetchall()]
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


def _exception_rows(outcome_exceptions: list[Exception_],
                    mismatches: list[tuple[str, int | None, int | None]]) -> dict:
    rows = {(e.reason, e.stripe_object_id): (e, None) for e in outcome_exceptions}
    for user_id, account, ledger in mismatches:
        detail = (f"Downcity account credits {account if account is not None else '(none)'} "
                  f"but its ledger sums to {ledger or 0}")
        exc = Exception_("account_ledger_mismatch", None, f"downcity_account:{user_id}",
                         user_id, detail)
        rows[(exc.reason, exc.stripe_object_id)] = (exc, (account or 0) - (ledger or 0))
    return rows


def reconcile(conn: duckdb.DuckDBPyConnection, config: FundingConfig,
              key_livemode: bool | None, now: datetime | None = None) -> ReconcileResult:
    """Decide the wallet of record; mirror Downcity's ledger or append Stripe-derived entries;
    rewrite exceptions and topups (one transaction)."""
    now = now or datetime.now(UTC)
    with transaction(conn):
        mode = decide_mode(conn)
        record_mode(conn, mode, now)
        facts, records = load_facts(conn), load_records(conn)
        currencies = _payment_currencies(_downcity_payments(conn))
        mirrored = inserted = 0
        if mode.mode == DOWNCITY:
            mirrored = mirror_downcity_ledger(conn, now)
            # Stripe is evidence only: the rules run for their exceptions, their credits unused.
            outcome = derive(records, facts, {}, config.credits_per_minor, key_livemode,
                             currencies)
            mismatches = account_mismatches(conn)
        else:
            drop_mirror(conn, now)
            outcome = derive(records, facts, _credits(conn), config.credits_per_minor,
                             key_livemode, currencies)
            inserted = append_entries(conn, outcome.entries)
            mismatches = []
        previous = {(r, o): t for r, o, t in conn.execute(_PREVIOUS_EXCEPTIONS).fetchall()}
        conn.execute("DELETE FROM reconciliation_exceptions")
        unique = _exception_rows(outcome.exceptions, mismatches)
        for (reason, object_id), (exc, stake) in sorted(unique.items()):
            conn.execute(_INSERT_EXCEPTION, [reason, exc.topup_id, object_id, exc.user_id,
                                             exc.detail, previous.get((reason, object_id), now),
                                             stake])
        known = set(records) | {p.topup_id for p in outcome.payments if p.topup_id} | \
            {row[1] for row in _downcity_payments(conn) if row[1]}
        wallet = _wallet(conn, known)
        states = topup_states(records, outcome.payments, wallet.ledger_rows())
        conn.execute("DELETE FROM topups")
        for s in states:
            p = s.payment
            conn.execute(_INSERT_TOPUP, [
                s.topup_id, s.user_id, s.state, s.amount_credits, s.credited, s.reversed,
                p.session_id if p else None, p.pi_id if p else None, p.charge_id if p else None,
                p.currency if p else None, p.amount_minor if p else None,
                records[s.topup_id].status if s.topup_id in records else None,
                _created(records.get(s.topup_id), p), now])
    return ReconcileResult(inserted, dict(Counter(e.reason for e, _ in unique.values())),
                           dict(Counter(s.state for s in states)), mode.mode, mirrored)


def _created(record: TopupRecord | None, payment: Payment | None) -> datetime | None:
    if record and record.created_at:
        return record.created_at
    if payment is not None and payment.created:
        return datetime.fromtimestamp(payment.created, UTC)
    return None


_TOPUPS_FOR_REPORT = """
SELECT topup_id, user_id, state, credited_credits, reversed_credits, created_at
FROM topups ORDER BY topup_id
"""


def _stripe_state(payment: StripePayment | None) -> str:
    if payment is None:
        return "not_seen"
    p, back = payment.payment, payment.reversed
    if p.paid:
        return "disputed" if back.disputed else "refunded" if back.refunded else "paid"
    if p.failed:
        return "failed"
    if p.expired:
        return "expired"
    return "processing" if p.awaiting_async else "open"


def _stripe_payments(conn: duckdb.DuckDBPyConnection,
                     config: FundingConfig) -> list[StripePayment]:
    facts = load_facts(conn)
    payments = build_payments(facts)
    reversals = stripe_reversals(facts, payments, config.credits_per_minor)
    out = []
    for p in payments:
        try:
            worth = to_credits(p.amount_minor or 0, p.currency or "", config.credits_per_minor)
        except UnsupportedCurrency:
            worth = None
        out.append(StripePayment(p, worth, reversals.get(p.key, Reversed())))
    return out


def build_report(conn: duckdb.DuckDBPyConnection, config: FundingConfig,
                 now: datetime | None = None) -> dict[str, int]:
    """One row per topup and per Stripe payment not shown on its topup's row: the evidence on
    both sides, a verdict and the credits at stake."""
    now = now or datetime.now(UTC)
    mode = wallet_mode(conn)
    by_topup: dict[str, list[tuple[str, str]]] = {}
    by_object: dict[str, list[tuple[str, str]]] = {}
    for reason, topup_id, object_id, detail in conn.execute(
            "SELECT reason, topup_id, stripe_object_id, detail FROM reconciliation_exceptions "
            "ORDER BY reason, stripe_object_id").fetchall():
        if topup_id:
            by_topup.setdefault(topup_id, []).append((reason, detail))
        by_object.setdefault(object_id, []).append((reason, detail))
    balances = dict(conn.execute(_BALANCES).fetchall())
    records = load_records(conn)
    dc_payments: dict[str, list[DowncityPayment]] = {}
    for payment_id, topup_id, status, credits, _currency in _downcity_payments(conn):
        if topup_id:
            dc_payments.setdefault(topup_id, []).append(
                DowncityPayment(payment_id, status, credits))
    stripe = _stripe_payments(conn, config)
    stripe_by_topup: dict[str, list[StripePayment]] = {}
    for s in stripe:
        if s.payment.topup_id:
            stripe_by_topup.setdefault(s.payment.topup_id, []).append(s)
    topups = {row[0]: row[1:] for row in conn.execute(_TOPUPS_FOR_REPORT).fetchall()}
    ids = sorted(set(topups) | set(dc_payments))
    wallet = _wallet(conn, set(ids) | set(stripe_by_topup))
    shown: set[str] = set()
    rows = []
    for topup_id in ids:
        user_id, state, credited, reversed_, created_at = topups.get(
            topup_id, (None, "pending", 0, 0, None))
        record = records.get(topup_id)
        user_id = user_id or (record.user_id if record else None) or wallet.users.get(topup_id)
        attempts = stripe_by_topup.get(topup_id, [])
        chosen = chosen_payment([s.payment for s in attempts])
        shown_payment = next((s for s in attempts if s.payment is chosen), None)
        if shown_payment:
            shown.add(shown_payment.payment.key)
        evidence = TopupEvidence(
            topup_id, user_id, record, dc_payments.get(topup_id, []),
            [shown_payment] if shown_payment else [], wallet.credits.get(topup_id, []),
            wallet.reversed(topup_id), by_topup.get(topup_id, []),
            stale=state == "pending" and created_at is not None
            and now - created_at > config.stale_pending_after,
            user_balance=balances.get(user_id))
        verdict = topup_verdict(evidence)
        dc = (evidence.downcity_payments or [None])[-1]
        rows.append(_report_row(
            f"topup:{topup_id}", "topup", topup_id, user_id, record, shown_payment,
            credited - reversed_, state, verdict, evidence.stale, balances.get(user_id), now,
            dc, mode))
    for s in stripe:
        if s.payment.key in shown:
            continue
        verdict = payment_verdict(s, by_object.get(s.payment.object_id, []))
        rows.append(_report_row(
            f"stripe:{s.payment.object_id}", "stripe_payment", s.payment.topup_id,
            s.payment.user_id, None, s, 0, "not_credited" if s.payment.paid else "unpaid",
            verdict, False, balances.get(s.payment.user_id), now, None, mode))
    with transaction(conn):
        if replace_if_columns_differ(conn, "reconciliation_report", REPORT_COLUMNS):
            ensure_schema(conn)
        conn.execute("DELETE FROM reconciliation_report")
        if rows:  # duckdb refuses executemany with no rows
            conn.executemany(_INSERT_REPORT, rows)
    return dict(Counter(row[REPORT_COLUMNS.index("verdict")] for row in rows))


def _report_row(key: str, kind: str, topup_id: str | None, user_id: str | None,
                record: TopupRecord | None, stripe: StripePayment | None, ledger_credits: int,
                ledger_state: str, verdict: Verdict, stale: bool, balance: int | None,
                now: datetime, dc: DowncityPayment | None, mode: str) -> list:
    return [key, kind, topup_id, user_id, record.status if record else None,
            record.credits if record else None, _stripe_state(stripe),
            stripe.credits if stripe else None, ledger_credits, ledger_state, verdict.verdict,
            verdict.detail, stale, balance, now, verdict.credits_at_stake, verdict.evidence,
            stripe.payment.object_id if stripe else None, dc.payment_id if dc else None,
            dc.status if dc else None, verdict.credited_by, verdict.credited_at, mode]
