"""The reconciliation report: one verdict per topup and per Stripe payment not shown on its
topup's row, with the evidence on both sides and the credits at stake (rules in verdicts.py)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

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
from usage_model.funding.ledger import replace_if_columns_differ, wallet_mode
from usage_model.funding.rules import (
    Reversed,
    TopupRecord,
    build_payments,
    chosen_payment,
    stripe_reversals,
)
from usage_model.funding.verdicts import (
    DowncityPayment,
    StripePayment,
    TopupEvidence,
    Verdict,
    payment_verdict,
    topup_verdict,
)
from usage_model.sql import run_sql, run_sql_many
from usage_model.warehouse import ensure_schema, transaction

REPORT_COLUMNS = (
    "report_key", "row_kind", "topup_id", "user_id", "downcity_status", "downcity_amount",
    "stripe_state", "stripe_amount", "ledger_credits", "ledger_state", "verdict", "detail",
    "stale_pending", "user_balance", "built_at", "credits_at_stake", "evidence",
    "stripe_payment", "downcity_payment_id", "downcity_payment_status", "credited_by",
    "credited_at", "wallet_mode",
)


def funding_by_verdict(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int, int]]:
    """(verdict, topups, payments, credits) from the built report, most credits first."""
    return run_sql(conn, __file__, "funding_by_verdict").fetchall()


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
    now = now or clock.now()
    mode = wallet_mode(conn)
    by_topup: dict[str, list[tuple[str, str]]] = {}
    by_object: dict[str, list[tuple[str, str]]] = {}
    for reason, topup_id, object_id, detail in run_sql(
            conn, __file__, "exceptions_for_report").fetchall():
        if topup_id:
            by_topup.setdefault(topup_id, []).append((reason, detail))
        by_object.setdefault(object_id, []).append((reason, detail))
    balances = dict(run_sql(conn, __file__, "credit_balances").fetchall())
    records = load_records(conn)
    dc_payments: dict[str, list[DowncityPayment]] = {}
    for payment_id, topup_id, status, credits, _currency in downcity_payments(conn):
        if topup_id:
            dc_payments.setdefault(topup_id, []).append(
                DowncityPayment(payment_id, status, credits))
    stripe = _stripe_payments(conn, config)
    stripe_by_topup: dict[str, list[StripePayment]] = {}
    for s in stripe:
        if s.payment.topup_id:
            stripe_by_topup.setdefault(s.payment.topup_id, []).append(s)
    topups = {row[0]: row[1:] for row in run_sql(conn, __file__, "topups_for_report").fetchall()}
    ids = sorted(set(topups) | set(dc_payments))
    wallet = wallet_topups(conn, set(ids) | set(stripe_by_topup))
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
        run_sql(conn, __file__, "delete_all", idents={"table": "reconciliation_report"})
        run_sql_many(conn, __file__, "insert_report_row", rows)
    return dict(Counter(row["verdict"] for row in rows))


def _report_row(key: str, kind: str, topup_id: str | None, user_id: str | None,
                record: TopupRecord | None, stripe: StripePayment | None, ledger_credits: int,
                ledger_state: str, verdict: Verdict, stale: bool, balance: int | None,
                now: datetime, dc: DowncityPayment | None, mode: str) -> dict[str, object]:
    values = [key, kind, topup_id, user_id, record.status if record else None,
              record.credits if record else None, _stripe_state(stripe),
              stripe.credits if stripe else None, ledger_credits, ledger_state, verdict.verdict,
              verdict.detail, stale, balance, now, verdict.credits_at_stake, verdict.evidence,
              stripe.payment.object_id if stripe else None, dc.payment_id if dc else None,
              dc.status if dc else None, verdict.credited_by, verdict.credited_at, mode]
    return dict(zip(REPORT_COLUMNS, values, strict=True))
