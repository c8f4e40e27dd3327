"""Reconciliation verdicts as pure functions: the wallet of record against the money that moved.

One verdict per topup, from the union of Downcity's records (topup, payment, wallet ledger) and
Stripe's (payments, refunds, disputes), and one per Stripe payment not shown on its topup's row.
Each comes with the credits at stake, so the report can total wallet credit per verdict.

Topup verdicts, first that applies:
- `double_credit`: the wallet credited the topup more than once (stake: the extra credits).
- an exception reason from the Stripe rules that explains the topup (`livemode_mismatch`,
  `unsupported_currency`, `currency_mismatch`, `amount_mismatch`, `missing_topup_reference`).
- credited, with a paid Stripe payment: `amount_mismatch` (credited != paid; stake: the
  difference), `refund_not_reversed` / `dispute_not_reversed` (Stripe took money back and the
  wallet kept the credit; stake: credits not reversed), `negative_balance` (a reversal took
  the balance below zero), `missing_downcity_record`, `downcity_status_lags`, else `ok`.
- credited, no Stripe payment, Downcity's own payment record paid: `downcity_evidence_only`
  (Stripe not configured, or it has not shown this payment).
- credited with no payment at all: `credited_without_payment` (a manual credit: who and when
  from the ledger entry's metadata or note).
- not credited: `not_credited` (paid in Stripe, or paid per Downcity's records; stake: the paid
  credits), `stale_pending` (pending past the threshold), `not_paid` (pending, canceled or
  expired: nothing owed either way).

Stripe payment rows: the payment's exception reason (`duplicate_payment`, ...), else
`not_credited` when paid, else `not_paid`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from usage_model.funding.downcity import PAID_STATUSES
from usage_model.funding.rules import Payment, Reversed, TopupRecord

VERDICTS = (
    "ok", "downcity_evidence_only", "credited_without_payment", "not_credited",
    "double_credit", "amount_mismatch", "refund_not_reversed", "dispute_not_reversed",
    "negative_balance", "missing_downcity_record", "downcity_status_lags", "stale_pending",
    "not_paid", "duplicate_payment", "livemode_mismatch", "unsupported_currency",
    "currency_mismatch", "missing_topup_reference",
)
# Stripe rule exceptions that explain a topup's row (duplicate_payment is on the payment's own).
_TOPUP_EXCEPTIONS = ("livemode_mismatch", "unsupported_currency", "currency_mismatch",
                     "amount_mismatch", "missing_topup_reference")
# Metadata keys (snake_case) that name who made a manual credit, most specific first.
WHO_KEYS = ("admin_id", "admin", "operator", "actor", "by", "created_by", "user")


@dataclass(frozen=True)
class WalletCredit:
    """One wallet ledger entry crediting a topup."""

    entry_id: str
    credits: int
    created_at: datetime | None
    note: str | None
    meta: dict[str, Any] = field(default_factory=dict)

    def who(self) -> str | None:
        for key in WHO_KEYS:
            if self.meta.get(key) not in (None, ""):
                return str(self.meta[key])
        return self.note or None


@dataclass(frozen=True)
class DowncityPayment:
    payment_id: str
    status: str | None
    credits: int | None

    @property
    def paid(self) -> bool:
        return (self.status or "") in PAID_STATUSES


@dataclass(frozen=True)
class StripePayment:
    """A Stripe payment with its worth in credits (None when its currency is unconfigured)."""

    payment: Payment
    credits: int | None
    reversed: Reversed = Reversed()


@dataclass
class TopupEvidence:
    topup_id: str
    user_id: str | None
    record: TopupRecord | None = None
    downcity_payments: list[DowncityPayment] = field(default_factory=list)
    stripe: list[StripePayment] = field(default_factory=list)
    credits: list[WalletCredit] = field(default_factory=list)
    wallet_reversed: int = 0  # credits the wallet took back for this topup (positive)
    exceptions: list[tuple[str, str]] = field(default_factory=list)  # (reason, detail)
    stale: bool = False
    user_balance: int | None = None


@dataclass(frozen=True)
class Verdict:
    verdict: str
    detail: str | None
    credits_at_stake: int
    evidence: str  # stripe | downcity_payment | none
    credited_by: str | None = None
    credited_at: datetime | None = None


def _evidence(ev: TopupEvidence) -> str:
    if any(s.payment.paid for s in ev.stripe):
        return "stripe"
    if any(p.paid for p in ev.downcity_payments):
        return "downcity_payment"
    return "none"


def topup_verdict(ev: TopupEvidence) -> Verdict:
    credited = sum(c.credits for c in ev.credits)
    evidence = _evidence(ev)

    def verdict(name: str, detail: str | None, stake: int) -> Verdict:
        return Verdict(name, detail, stake, evidence)

    if len(ev.credits) > 1:
        extra = credited - ev.credits[0].credits
        return verdict("double_credit", f"credited {len(ev.credits)} times ("
                       f"{', '.join(c.entry_id for c in ev.credits)}); one is backed", extra)
    explained = [(r, d) for r, d in ev.exceptions if r in _TOPUP_EXCEPTIONS]
    if explained:
        reason, detail = explained[0]
        paid = next((s.credits for s in ev.stripe if s.payment.paid and s.credits), 0)
        stake = abs(credited - paid) if reason == "amount_mismatch" and credited else \
            credited or paid or 0
        return verdict(reason, detail, stake)
    if credited:
        return _credited_verdict(ev, credited, evidence)
    return _uncredited_verdict(ev, evidence)


def _credited_verdict(ev: TopupEvidence, credited: int, evidence: str) -> Verdict:
    paid = [s for s in ev.stripe if s.payment.paid]
    if paid:
        backed = paid[0].credits or 0
        if backed != credited:
            return Verdict("amount_mismatch", f"wallet credited {credited}, Stripe payment "
                           f"{paid[0].payment.object_id} is worth {backed} credits",
                           abs(credited - backed), evidence)
        refunded = sum(s.reversed.refunded for s in paid)
        disputed = sum(s.reversed.disputed for s in paid)
        open_refund = max(refunded - ev.wallet_reversed, 0)
        open_dispute = max(disputed - max(ev.wallet_reversed - refunded, 0), 0)
        if open_refund:
            return Verdict("refund_not_reversed", f"Stripe refunded {refunded} credits' worth; "
                           f"the wallet reversed {ev.wallet_reversed}", open_refund, evidence)
        if open_dispute:
            return Verdict("dispute_not_reversed", f"Stripe dispute withdrew {disputed} "
                           f"credits' worth; the wallet kept the credit", open_dispute, evidence)
        if (refunded or disputed) and ev.user_balance is not None and ev.user_balance < 0:
            return Verdict("negative_balance", f"a reversal took the balance to "
                           f"{ev.user_balance} credits", -ev.user_balance, evidence)
        if ev.record is None:
            return Verdict("missing_downcity_record", "credited and paid in Stripe; no Downcity "
                           "topup record", credited, evidence)
        if (ev.record.status or "") not in PAID_STATUSES:
            return Verdict("downcity_status_lags", f"credited and paid; Downcity status still "
                           f"{ev.record.status}", credited, evidence)
        return Verdict("ok", None, credited, evidence)
    dc_paid = [p for p in ev.downcity_payments if p.paid]
    if dc_paid:
        if dc_paid[0].credits is not None and dc_paid[0].credits != credited:
            return Verdict("amount_mismatch", f"wallet credited {credited}, Downcity payment "
                           f"{dc_paid[0].payment_id} is {dc_paid[0].credits} credits",
                           abs(credited - dc_paid[0].credits), evidence)
        return Verdict("downcity_evidence_only", f"backed only by Downcity's own payment record "
                       f"{dc_paid[0].payment_id} (paid); no Stripe payment seen", credited,
                       evidence)
    entry = ev.credits[0]
    who, when = entry.who(), entry.created_at
    return Verdict("credited_without_payment",
                   f"manual credit {entry.entry_id} by {who or 'unknown'} at "
                   f"{when.isoformat() if when else 'unknown time'}; no payment anywhere",
                   credited, evidence, credited_by=who, credited_at=when)


def _uncredited_verdict(ev: TopupEvidence, evidence: str) -> Verdict:
    paid = [s for s in ev.stripe if s.payment.paid]
    if paid:
        worth = paid[0].credits or 0
        taken_back = paid[0].reversed.refunded + paid[0].reversed.disputed
        if worth - taken_back > 0:
            return Verdict("not_credited", f"paid in Stripe ({paid[0].payment.object_id}); the "
                           "wallet never credited it", worth - taken_back, evidence)
        return Verdict("not_paid", "paid in Stripe, then refunded in full before any credit", 0,
                       evidence)
    dc_paid = [p for p in ev.downcity_payments if p.paid]
    record_paid = ev.record is not None and (ev.record.status or "") in PAID_STATUSES
    if dc_paid or record_paid:
        worth = (dc_paid[0].credits if dc_paid else None) or \
            (ev.record.credits if ev.record else None) or 0
        said = f"payment {dc_paid[0].payment_id} paid" if dc_paid else \
            f"topup status {ev.record.status}"
        return Verdict("not_credited", f"Downcity says {said}; the wallet never credited it",
                       worth, evidence)
    if ev.stale:
        return Verdict("stale_pending", "pending for longer than the configured threshold", 0,
                       evidence)
    status = ev.record.status if ev.record else "no Downcity record"
    return Verdict("not_paid", f"{status}: nothing paid, nothing credited", 0, evidence)


def payment_verdict(payment: StripePayment, exceptions: list[tuple[str, str]]) -> Verdict:
    """A Stripe payment on its own row (not the payment shown on its topup's row)."""
    evidence = "stripe" if payment.payment.paid else "none"
    worth = payment.credits or 0 if payment.payment.paid else 0
    if exceptions:
        reason, detail = exceptions[0]
        return Verdict(reason, detail, worth, evidence)
    if payment.payment.paid:
        return Verdict("not_credited", "paid in Stripe; no topup was credited for it", worth,
                       evidence)
    return Verdict("not_paid", "an attempt that was never paid", 0, evidence)
