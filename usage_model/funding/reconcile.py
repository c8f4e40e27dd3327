"""Apply the funding rules to the warehouse: ledger entries, exceptions, topups, report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from usage_model import clock
from usage_model.funding.config import FundingConfig
from usage_model.funding.ledger import append_entries, transaction
from usage_model.funding.rules import (
    FUNDING_KINDS,
    Credit,
    StripeFacts,
    TopupRecord,
    derive,
    topup_states,
)

_SNAPSHOTS = "SELECT id, type, json FROM stripe_objects ORDER BY id, first_seen_at, snapshot_hash"
_EVENT_TYPES = "SELECT object_id, type FROM stripe_events WHERE object_id IS NOT NULL"
_RECORDS = "SELECT topup_id, user_id, amount, unit, status, created_at FROM downcity_topups"
_PAYMENT_ROWS = "SELECT payment_id, row_json FROM downcity_payments"
_FUNDING_LEDGER = f"""
SELECT kind, user_id, amount, metadata_json FROM balance_ledger
WHERE kind IN ({", ".join(repr(k) for k in FUNDING_KINDS)}) ORDER BY seq
"""
_PREVIOUS_EXCEPTIONS = (
    "SELECT reason, stripe_object_id, first_seen_at FROM reconciliation_exceptions")
_INSERT_EXCEPTION = "INSERT INTO reconciliation_exceptions VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_TOPUP = "INSERT INTO topups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_REPORT = "INSERT INTO reconciliation_report VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_BALANCES = "SELECT user_id, balance FROM balances WHERE unit = 'credits'"
_PAID_STATUSES = {"paid", "succeeded", "completed", "complete", "credited", "success"}


@dataclass(frozen=True)
class ReconcileResult:
    entries_inserted: int
    exceptions: dict[str, int]
    topup_states: dict[str, int]


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


def _payment_currencies(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Currency per Downcity payment id (and per topup id when the row names one)."""
    out = {}
    for payment_id, text in conn.execute(_PAYMENT_ROWS).fetchall():
        row = json.loads(text)
        if row.get("currency"):
            out[payment_id] = str(row["currency"])
            if row.get("topup_id"):
                out[str(row["topup_id"])] = str(row["currency"])
    return out


def _funding_ledger(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, dict]]:
    rows = []
    for kind, user_id, amount, meta in conn.execute(_FUNDING_LEDGER).fetchall():
        rows.append((kind, user_id, amount, json.loads(meta) if meta else {}))
    return rows


def _credits(ledger: list[tuple[str, str, int, dict]]) -> dict[str, Credit]:
    out = {}
    for kind, user_id, amount, meta in ledger:
        if kind == "topup" and meta.get("topup_id"):
            ids = frozenset(i for i in (meta.get("checkout_session"), meta.get("payment_intent"))
                            if i)
            out[meta["topup_id"]] = Credit(meta["topup_id"], user_id, amount, ids)
    return out


def reconcile(conn: duckdb.DuckDBPyConnection, config: FundingConfig,
              key_livemode: bool | None, now: datetime | None = None) -> ReconcileResult:
    """Derive and append ledger entries; rewrite exceptions and topups (one transaction)."""
    now = now or clock.now()
    with transaction(conn):
        facts, records = load_facts(conn), load_records(conn)
        outcome = derive(records, facts, _credits(_funding_ledger(conn)),
                         config.credits_per_minor, key_livemode, _payment_currencies(conn))
        inserted = append_entries(conn, outcome.entries)
        previous = {(r, o): t for r, o, t in conn.execute(_PREVIOUS_EXCEPTIONS).fetchall()}
        conn.execute("DELETE FROM reconciliation_exceptions")
        unique = {(e.reason, e.stripe_object_id): e for e in outcome.exceptions}
        for (reason, object_id), exc in sorted(unique.items()):
            conn.execute(_INSERT_EXCEPTION, [reason, exc.topup_id, object_id, exc.user_id,
                                             exc.detail, previous.get((reason, object_id), now)])
        ledger_rows = [(k, m.get("topup_id"), a, u) for k, u, a, m in _funding_ledger(conn)
                       if m.get("topup_id")]
        states = topup_states(records, outcome.payments, ledger_rows)
        conn.execute("DELETE FROM topups")
        for s in states:
            p = s.payment
            conn.execute(_INSERT_TOPUP, [
                s.topup_id, s.user_id, s.state, s.amount_credits, s.credited, s.reversed,
                p.session_id if p else None, p.pi_id if p else None, p.charge_id if p else None,
                p.currency if p else None, p.amount_minor if p else None,
                records[s.topup_id].status if s.topup_id in records else None,
                _created(records.get(s.topup_id), p), now])
    counts: dict[str, int] = {}
    for exc in unique.values():
        counts[exc.reason] = counts.get(exc.reason, 0) + 1
    state_counts: dict[str, int] = {}
    for s in states:
        state_counts[s.state] = state_counts.get(s.state, 0) + 1
    return ReconcileResult(inserted, counts, state_counts)


def _created(record: TopupRecord | None, payment) -> datetime | None:
    if record and record.created_at:
        try:
            moment = datetime.fromisoformat(record.created_at.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            pass
    if payment is not None and payment.created:
        return datetime.fromtimestamp(payment.created, UTC)
    return None


_TOPUPS_FOR_REPORT = """
SELECT t.topup_id, t.user_id, t.state, t.amount_credits, t.credited_credits, t.reversed_credits,
       t.stripe_checkout_session, t.stripe_payment_intent, t.currency, t.amount_minor,
       t.downcity_status, t.created_at,
       d.topup_id IS NOT NULL AS has_record
FROM topups t LEFT JOIN downcity_topups d USING (topup_id)
ORDER BY t.topup_id
"""


def build_report(conn: duckdb.DuckDBPyConnection, config: FundingConfig,
                 now: datetime | None = None) -> dict[str, int]:
    """One row per topup: Downcity's record, Stripe's state, the ledger's state, a verdict."""
    now = now or clock.now()
    exceptions: dict[str, list[tuple[str, str]]] = {}
    for reason, topup_id, detail in conn.execute(
            "SELECT reason, topup_id, detail FROM reconciliation_exceptions "
            "WHERE topup_id IS NOT NULL ORDER BY reason").fetchall():
        exceptions.setdefault(topup_id, []).append((reason, detail))
    balances = dict(conn.execute(_BALANCES).fetchall())
    rates = config.credits_per_minor
    verdicts: dict[str, int] = {}
    with transaction(conn):
        conn.execute("DELETE FROM reconciliation_report")
        for (topup_id, user_id, state, dc_amount, credited, reversed_, session, pi, currency,
             amount_minor, dc_status, created_at, has_record) in \
                conn.execute(_TOPUPS_FOR_REPORT).fetchall():
            stripe_amount = amount_minor * rates[currency] \
                if amount_minor is not None and currency in rates else None
            stripe_state = _stripe_state(conn, session, pi)
            stale = state == "pending" and created_at is not None and \
                now - created_at > config.stale_pending_after
            balance = balances.get(user_id)
            verdict, detail = _verdict(state, dc_status, dc_amount, credited, has_record,
                                       stripe_state, exceptions.get(topup_id), stale, balance)
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
            conn.execute(_INSERT_REPORT, [
                topup_id, user_id, dc_status, dc_amount, stripe_state, stripe_amount,
                credited - reversed_, state, verdict, detail, stale, balance, now])
    return verdicts


def _stripe_state(conn: duckdb.DuckDBPyConnection, session: str | None, pi: str | None) -> str:
    if session is None and pi is None:
        return "not_seen"
    rows = conn.execute(
        "SELECT type, json FROM stripe_objects WHERE id IN (?, ?)", [session or "", pi or ""]
    ).fetchall()
    states = set()
    for kind, text in rows:
        obj = json.loads(text)
        if kind == "checkout.session":
            states.add("paid" if obj.get("payment_status") == "paid" else obj.get("status"))
        else:
            states.add(obj.get("status"))
    for label in ("paid", "succeeded", "complete", "processing", "expired", "open"):
        if label in states:
            return "paid" if label == "succeeded" else label
    return sorted(s for s in states if s)[0] if any(states) else "unknown"


def _verdict(state: str, dc_status: str | None, dc_amount: int | None, credited: int,
             has_record: bool, stripe_state: str, exceptions: list[tuple[str, str]] | None,
             stale: bool, balance: int | None) -> tuple[str, str | None]:
    if exceptions:
        reason, detail = exceptions[0]
        return reason, detail
    if balance is not None and balance < 0 and state in (
            "refunded", "partially_refunded", "disputed"):
        return "negative_balance", f"a reversal took the balance to {balance} credits"
    dc_paid = (dc_status or "").lower() in _PAID_STATUSES
    if dc_paid and not credited:  # more telling than stale_pending: Downcity says it was paid
        return "not_credited", f"Downcity says {dc_status}; Stripe state {stripe_state}"
    if stale:
        return "stale_pending", "pending for longer than the configured threshold"
    if credited and not has_record:
        return "missing_downcity_record", "credited from Stripe; no Downcity topup record"
    if credited and dc_amount is not None and credited != dc_amount:
        return "amount_differs", f"ledger credited {credited}, Downcity says {dc_amount}"
    if credited and has_record and not dc_paid:
        return "downcity_status_lags", f"credited; Downcity status still {dc_status}"
    return "ok", None
