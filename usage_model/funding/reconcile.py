"""Apply the funding rules to the warehouse: wallet mode, ledger, exceptions, topups.

The report built on top of them is `report.py` (`build_report` is importable from here too).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from usage_model import clock
from usage_model.funding.config import FundingConfig
from usage_model.funding.currency import UnsupportedCurrency, to_credits
from usage_model.funding.evidence import (
    downcity_payments,
    load_facts,
    load_records,
    wallet_topups,
)
from usage_model.funding.ledger import append_entries
from usage_model.funding.report import build_report as build_report
from usage_model.funding.rules import (
    FUNDING_KINDS,
    Credit,
    Exception_,
    Payment,
    TopupRecord,
    derive,
    topup_states,
)
from usage_model.funding.wallet import (
    DOWNCITY,
    account_mismatches,
    decide_mode,
    drop_mirror,
    mirror_downcity_ledger,
    record_mode,
)
from usage_model.sql import run_sql
from usage_model.warehouse import transaction


@dataclass(frozen=True)
class ReconcileResult:
    entries_inserted: int
    exceptions: dict[str, int]
    topup_states: dict[str, int]
    mode: str = "standalone"
    mirrored_entries: int = 0


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
    for kind, user_id, amount, meta in run_sql(conn, __file__, "standalone_funding_entries",
                                                  kinds=list(FUNDING_KINDS)).fetchall():
        meta = json.loads(meta) if meta else {}
        if kind == "topup" and meta.get("topup_id"):
            ids = frozenset(i for i in (meta.get("checkout_session"), meta.get("payment_intent"))
                            if i)
            out[meta["topup_id"]] = Credit(meta["topup_id"], user_id, amount, ids)
    return out


def _exception_rows(outcome_exceptions: list[Exception_], payments: list[Payment],
                    rates: dict[str, int],
                    mismatches: list[tuple[str, int | None, int | None]]) -> dict:
    """Exceptions keyed (reason, object id), each with its credits at stake: the payment's
    worth for Stripe's (None when its currency is unconfigured), account minus ledger for
    `account_ledger_mismatch`."""
    worth = {}
    for p in payments:
        try:
            worth[p.object_id] = to_credits(p.amount_minor or 0, p.currency or "", rates)
        except UnsupportedCurrency:
            worth[p.object_id] = None
    rows = {(e.reason, e.stripe_object_id): (e, worth.get(e.stripe_object_id))
            for e in outcome_exceptions}
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
    now = now or clock.now()
    with transaction(conn):
        mode = decide_mode(conn)
        record_mode(conn, mode, now)
        facts, records = load_facts(conn), load_records(conn)
        currencies = _payment_currencies(downcity_payments(conn))
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
        previous = {(r, o): t for r, o, t in
                    run_sql(conn, __file__, "previous_exceptions").fetchall()}
        run_sql(conn, __file__, "delete_all", idents={"table": "reconciliation_exceptions"})
        unique = _exception_rows(outcome.exceptions, outcome.payments,
                                 config.credits_per_minor, mismatches)
        for (reason, object_id), (exc, stake) in sorted(unique.items()):
            run_sql(conn, __file__, "insert_exception", reason=reason, topup_id=exc.topup_id,
                    stripe_object_id=object_id, user_id=exc.user_id, detail=exc.detail,
                    first_seen_at=previous.get((reason, object_id), now), credits_at_stake=stake)
        known = set(records) | {p.topup_id for p in outcome.payments if p.topup_id} | \
            {row[1] for row in downcity_payments(conn) if row[1]}
        wallet = wallet_topups(conn, known)
        states = topup_states(records, outcome.payments, wallet.ledger_rows())
        run_sql(conn, __file__, "delete_all", idents={"table": "topups"})
        for s in states:
            p = s.payment
            run_sql(
                conn, __file__, "insert_topup", topup_id=s.topup_id, user_id=s.user_id,
                state=s.state, amount_credits=s.amount_credits, credited_credits=s.credited,
                reversed_credits=s.reversed, stripe_checkout_session=p.session_id if p else None,
                stripe_payment_intent=p.pi_id if p else None,
                stripe_charge=p.charge_id if p else None, currency=p.currency if p else None,
                amount_minor=p.amount_minor if p else None,
                downcity_status=records[s.topup_id].status if s.topup_id in records else None,
                created_at=_created(records.get(s.topup_id), p), updated_at=now)
    return ReconcileResult(inserted, dict(Counter(e.reason for e, _ in unique.values())),
                           dict(Counter(s.state for s in states)), mode.mode, mirrored)


def _created(record: TopupRecord | None, payment: Payment | None) -> datetime | None:
    if record and record.created_at:
        return record.created_at
    if payment is not None and payment.created:
        return datetime.fromtimestamp(payment.created, UTC)
    return None


