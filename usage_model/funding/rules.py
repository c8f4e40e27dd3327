"""Funding rules as pure functions: Stripe facts + Downcity records -> ledger entries,
exceptions and topup states (docs/funding.md "Rules").

Facts are monotone: an object's facts are the union over every snapshot ever seen of it (and
the event types seen for it), so the outcome does not depend on the order or duplication of
events. Each ledger movement has its own ref, so re-deriving never moves money twice:
`topup:<topup_id>`, `refund:<re_id>`, `refund:<re_id>:reversal`, `dispute:<dp_id>:withdrawn`,
`dispute:<dp_id>:reinstated`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from usage_model.funding.currency import UnsupportedCurrency, to_credits
from usage_model.funding.ledger import LedgerEntry

FUNDING_KINDS = ("topup", "refund", "refund_reversal", "dispute", "dispute_reversal")
_INQUIRY_PREFIX = "warning_"
_REFUND_ENDED = ("failed", "canceled")


@dataclass
class StripeFacts:
    """Every snapshot of one Stripe object and the event types seen for it."""

    id: str
    type: str
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    event_types: set[str] = field(default_factory=set)

    def first(self, key: str) -> Any:
        """The first non-empty value of a field across snapshots (immutable fields)."""
        for snap in self.snapshots:
            value = snap.get(key)
            if value not in (None, "", {}):
                return value
        return None

    def any(self, **where: Any) -> bool:
        return any(all(s.get(k) == v for k, v in where.items()) for s in self.snapshots)

    def values(self, key: str) -> set[Any]:
        return {s.get(key) for s in self.snapshots}


@dataclass(frozen=True)
class TopupRecord:
    """Downcity's topup record (service_balance_topups), as landed."""

    topup_id: str
    user_id: str | None
    credits: int | None
    status: str | None = None
    created_at: datetime | None = None


@dataclass
class Payment:
    """One attempt to pay a topup: a Checkout Session and/or its PaymentIntent."""

    key: str
    session_id: str | None
    pi_id: str | None
    charge_id: str | None
    topup_id: str | None
    user_id: str | None
    payment_id: str | None
    amount_minor: int | None
    currency: str | None
    livemode: bool | None
    created: int
    paid: bool
    awaiting_async: bool
    failed: bool
    expired: bool
    conflict: str | None  # session and PaymentIntent disagree (currency or amount)

    @property
    def ids(self) -> set[str]:
        return {i for i in (self.session_id, self.pi_id) if i}

    @property
    def object_id(self) -> str:
        return self.session_id or self.pi_id or self.key


@dataclass(frozen=True)
class Credit:
    topup_id: str
    user_id: str
    amount: int
    ids: frozenset[str]


@dataclass(frozen=True)
class Exception_:
    reason: str
    topup_id: str | None
    stripe_object_id: str
    user_id: str | None
    detail: str


@dataclass
class Outcome:
    entries: list[LedgerEntry] = field(default_factory=list)
    exceptions: list[Exception_] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)


def _meta(facts: StripeFacts | None) -> dict[str, str]:
    return (facts.first("metadata") or {}) if facts else {}


def build_payments(objects: Mapping[str, StripeFacts]) -> list[Payment]:
    """Join Checkout Sessions with their PaymentIntents; standalone PIs are payments too."""
    intents = {i: f for i, f in objects.items() if f.type == "payment_intent"}
    linked: set[str] = set()
    payments = []
    for facts in (f for f in objects.values() if f.type == "checkout.session"):
        pi_id = facts.first("payment_intent")
        pi = intents.get(pi_id) if pi_id else None
        if pi_id:
            linked.add(pi_id)
        payments.append(_payment(facts, pi, pi_id))
    for pi_id, pi in intents.items():
        if pi_id not in linked:
            payments.append(_payment(None, pi, pi_id))
    return sorted(payments, key=lambda p: (p.created, p.key))


def _payment(session: StripeFacts | None, pi: StripeFacts | None, pi_id: str | None) -> Payment:
    meta = {**_meta(pi), **_meta(session)}
    pi_succeeded = bool(pi and pi.any(status="succeeded"))
    pi_failed = bool(pi and ("payment_intent.payment_failed" in pi.event_types
                             or pi.any(status="canceled")))
    session_paid = bool(session and session.any(status="complete", payment_status="paid"))
    completed_unpaid = bool(session and session.any(status="complete", payment_status="unpaid"))
    async_failed = bool(session and "checkout.session.async_payment_failed"
                        in session.event_types)
    conflict = None
    amount = currency = None
    if session is not None:
        amount, currency = session.first("amount_total"), session.first("currency")
    if pi is not None:
        pi_amount, pi_currency = pi.first("amount"), pi.first("currency")
        if currency and pi_currency and currency != pi_currency:
            conflict = f"session currency {currency} but PaymentIntent currency {pi_currency}"
        elif amount is not None and pi_amount is not None and amount != pi_amount:
            conflict = f"session amount {amount} but PaymentIntent amount {pi_amount}"
        amount = pi_amount if amount is None else amount
        currency = currency or pi_currency
    source = session or pi
    assert source is not None
    livemodes = {v for f in (session, pi) if f for v in f.values("livemode") if v is not None}
    topup_id = meta.get("topup_id") or (session.first("client_reference_id") if session else None)
    return Payment(
        key=pi_id or source.id,
        session_id=session.id if session else None,
        pi_id=pi_id,
        charge_id=pi.first("latest_charge") if pi else None,
        topup_id=topup_id,
        user_id=meta.get("user_id"),
        payment_id=meta.get("payment_id"),
        amount_minor=amount,
        currency=(currency or "").lower() or None,
        livemode=next(iter(livemodes)) if len(livemodes) == 1 else (True in livemodes or None),
        created=min(f.first("created") or 0 for f in (session, pi) if f),
        paid=session_paid or pi_succeeded,
        awaiting_async=completed_unpaid and not (session_paid or pi_succeeded)
        and not (async_failed or pi_failed),
        failed=async_failed or pi_failed,
        expired=bool(session and session.any(status="expired")),
        conflict=conflict,
    )


def _metadata(**values: Any) -> str:
    return json.dumps({k: v for k, v in values.items() if v is not None}, sort_keys=True)


def derive(
    records: Mapping[str, TopupRecord],
    objects: Mapping[str, StripeFacts],
    credited: Mapping[str, Credit],
    rates: Mapping[str, int],
    key_livemode: bool | None,
    payment_currencies: Mapping[str, str] | None = None,
) -> Outcome:
    """New ledger entries and the current exceptions, given what is already credited."""
    out = Outcome(payments=build_payments(objects))
    credits = dict(credited)
    for payment in out.payments:
        if payment.paid:
            _credit_payment(payment, records, credits, rates, key_livemode,
                            payment_currencies or {}, out)
    for _credit, entry in reversal_entries(objects, credits.values(), rates, out.exceptions):
        out.entries.append(entry)
    return out


def reversal_entries(objects: Mapping[str, StripeFacts], credits: Iterable[Credit],
                     rates: Mapping[str, int],
                     exceptions: list[Exception_]) -> list[tuple[Credit, LedgerEntry]]:
    """The refund and dispute movements Stripe made on credited payments, each with the credit
    it reverses; an unconvertible currency is an exception instead."""
    by_payment_id = {i: c for c in credits for i in c.ids}
    charges = {i: f for i, f in objects.items() if f.type == "charge"}
    out = []
    for facts in sorted(objects.values(), key=lambda f: (f.first("created") or 0, f.id)):
        if facts.type not in ("refund", "dispute"):
            continue
        pi_id = facts.first("payment_intent")
        if not pi_id and facts.first("charge") in charges:
            pi_id = charges[facts.first("charge")].first("payment_intent")
        credit = by_payment_id.get(pi_id) if pi_id else None
        if credit is None:
            continue  # not a credited topup payment (another product, or a duplicate payment)
        try:
            amount = to_credits(facts.first("amount") or 0, facts.first("currency") or "", rates)
        except UnsupportedCurrency as exc:
            exceptions.append(Exception_("unsupported_currency", credit.topup_id, facts.id,
                                         credit.user_id, str(exc)))
            continue
        moves = _refund_entries(facts, credit, amount) if facts.type == "refund" \
            else _dispute_entries(facts, credit, amount)
        out.extend((credit, entry) for entry in moves)
    return out


@dataclass(frozen=True)
class Reversed:
    """Credits Stripe took back from one payment: refunded, and disputed (funds withdrawn and
    not reinstated), net of failed refunds and won disputes."""

    refunded: int = 0
    disputed: int = 0


def stripe_reversals(objects: Mapping[str, StripeFacts], payments: Iterable[Payment],
                     rates: Mapping[str, int]) -> dict[str, Reversed]:
    """Per paid payment key: what Stripe's refunds and disputes took back (the same rules as
    the standalone ledger's reversal entries)."""
    credits = [Credit(p.key, "-", 0, frozenset(p.ids)) for p in payments if p.paid]
    totals: dict[str, list[int]] = {}
    for credit, entry in reversal_entries(objects, credits, rates, []):
        slot = totals.setdefault(credit.topup_id, [0, 0])
        slot[0 if entry.kind.startswith("refund") else 1] -= entry.amount
    return {key: Reversed(refunded, disputed) for key, (refunded, disputed) in totals.items()}


def _credit_payment(payment: Payment, records: Mapping[str, TopupRecord],
                    credits: dict[str, Credit], rates: Mapping[str, int],
                    key_livemode: bool | None, payment_currencies: Mapping[str, str],
                    out: Outcome) -> None:
    def reject(reason: str, detail: str, user_id: str | None = payment.user_id) -> None:
        out.exceptions.append(Exception_(reason, payment.topup_id, payment.object_id,
                                         user_id, detail))

    record = records.get(payment.topup_id) if payment.topup_id else None
    user_id = (record.user_id if record else None) or payment.user_id
    if key_livemode is not None and payment.livemode is not None \
            and payment.livemode != key_livemode:
        return reject("livemode_mismatch", f"object livemode={payment.livemode} but the key is "
                      f"{'live' if key_livemode else 'test'}", user_id)
    if not payment.topup_id:
        return reject("missing_topup_reference",
                      "paid, but neither metadata.topup_id nor client_reference_id names a topup")
    try:
        stripe_credits = to_credits(payment.amount_minor or 0, payment.currency or "", rates)
    except UnsupportedCurrency as exc:
        return reject("unsupported_currency", str(exc), user_id)
    expected_currency = payment_currencies.get(payment.payment_id or "") or \
        payment_currencies.get(payment.topup_id)
    if payment.conflict and "currency" in payment.conflict:
        return reject("currency_mismatch", payment.conflict, user_id)
    if expected_currency and expected_currency.lower() != payment.currency:
        return reject("currency_mismatch", f"Downcity payment currency {expected_currency} but "
                      f"Stripe charged {payment.currency}", user_id)
    if payment.conflict:
        return reject("amount_mismatch", payment.conflict, user_id)
    if record is not None and record.credits is not None and record.credits != stripe_credits:
        return reject("amount_mismatch", f"Downcity topup amount {record.credits} credits but "
                      f"Stripe {payment.amount_minor} {payment.currency} = {stripe_credits} "
                      "credits", user_id)
    existing = credits.get(payment.topup_id)
    if existing is not None:
        if existing.ids & payment.ids:
            return  # already credited by this very payment
        return reject("duplicate_payment", f"topup already credited by "
                      f"{sorted(existing.ids)[0]}", user_id)
    if not user_id:
        return reject("missing_topup_reference",
                      "no Downcity topup record and no metadata.user_id to credit")
    amount = record.credits if record is not None and record.credits is not None \
        else stripe_credits
    credits[payment.topup_id] = Credit(payment.topup_id, user_id, amount,
                                       frozenset(payment.ids))
    out.entries.append(LedgerEntry(
        user_id=user_id, kind="topup", amount=amount, ref=f"topup:{payment.topup_id}",
        note=f"Stripe payment {payment.object_id}",
        metadata_json=_metadata(topup_id=payment.topup_id, checkout_session=payment.session_id,
                                payment_intent=payment.pi_id, charge=payment.charge_id,
                                currency=payment.currency, amount_minor=payment.amount_minor,
                                source="stripe"), source="stripe"))


def _refund_entries(facts: StripeFacts, credit: Credit, amount: int) -> Iterable[LedgerEntry]:
    meta = _metadata(topup_id=credit.topup_id, refund=facts.id, charge=facts.first("charge"),
                     amount_minor=facts.first("amount"), currency=facts.first("currency"))
    yield LedgerEntry(user_id=credit.user_id, kind="refund", amount=-amount,
                      ref=f"refund:{facts.id}", note=f"Stripe refund {facts.id}",
                      metadata_json=meta, source="stripe")
    if facts.values("status") & set(_REFUND_ENDED):
        yield LedgerEntry(user_id=credit.user_id, kind="refund_reversal", amount=amount,
                          ref=f"refund:{facts.id}:reversal",
                          note=f"Stripe refund {facts.id} failed or was canceled",
                          metadata_json=meta, source="stripe")


def _dispute_entries(facts: StripeFacts, credit: Credit, amount: int) -> Iterable[LedgerEntry]:
    txns = [t for s in facts.snapshots for t in (s.get("balance_transactions") or [])]
    statuses = {s for s in facts.values("status") if s}
    withdrawn = any((t.get("amount") or 0) < 0 for t in txns) or any(
        not s.startswith(_INQUIRY_PREFIX) and s != "prevented" for s in statuses)
    reinstated = any((t.get("amount") or 0) > 0 for t in txns) or "won" in statuses
    meta = _metadata(topup_id=credit.topup_id, dispute=facts.id, charge=facts.first("charge"),
                     amount_minor=facts.first("amount"), currency=facts.first("currency"))
    if withdrawn or reinstated:
        yield LedgerEntry(user_id=credit.user_id, kind="dispute", amount=-amount,
                          ref=f"dispute:{facts.id}:withdrawn",
                          note=f"Stripe dispute {facts.id}: funds withdrawn", metadata_json=meta,
                          source="stripe")
    if reinstated:
        yield LedgerEntry(user_id=credit.user_id, kind="dispute_reversal", amount=amount,
                          ref=f"dispute:{facts.id}:reinstated",
                          note=f"Stripe dispute {facts.id}: funds reinstated", metadata_json=meta,
                          source="stripe")


@dataclass(frozen=True)
class TopupState:
    topup_id: str
    user_id: str | None
    state: str
    amount_credits: int | None
    credited: int
    reversed: int
    payment: Payment | None


def topup_states(records: Mapping[str, TopupRecord], payments: list[Payment],
                 ledger: Iterable[tuple[str, str, int, str]]) -> list[TopupState]:
    """Current state per topup from the ledger (kind, topup_id, amount, user_id) + payments."""
    credited: dict[str, int] = {}
    refunded: dict[str, int] = {}
    disputed: dict[str, int] = {}
    users: dict[str, str] = {}
    for kind, topup_id, amount, user_id in ledger:
        users.setdefault(topup_id, user_id)
        if kind == "topup":
            credited[topup_id] = credited.get(topup_id, 0) + amount
        elif kind in ("refund", "refund_reversal"):
            refunded[topup_id] = refunded.get(topup_id, 0) - amount
        elif kind in ("dispute", "dispute_reversal"):
            disputed[topup_id] = disputed.get(topup_id, 0) - amount
    by_topup: dict[str, list[Payment]] = {}
    for p in payments:
        if p.topup_id:
            by_topup.setdefault(p.topup_id, []).append(p)
    ids = set(records) | set(by_topup) | set(credited)
    states = []
    for topup_id in sorted(ids):
        record = records.get(topup_id)
        attempts = by_topup.get(topup_id, [])
        paid_amount = credited.get(topup_id, 0)
        refund_net, dispute_net = refunded.get(topup_id, 0), disputed.get(topup_id, 0)
        if topup_id in credited:
            if dispute_net > 0:
                state = "disputed"
            elif refund_net >= paid_amount > 0:
                state = "refunded"
            elif refund_net > 0:
                state = "partially_refunded"
            else:
                state = "paid"
        elif attempts and all(p.failed for p in attempts if not p.expired) \
                and any(p.failed for p in attempts):
            state = "failed"
        elif attempts and all(p.expired for p in attempts):
            state = "cancelled"
        elif not attempts and record and (record.status or "").lower() in (
                "cancelled", "canceled", "failed", "expired"):
            state = "failed" if record.status.lower() == "failed" else "cancelled"
        else:
            state = "pending"
        chosen = chosen_payment(attempts)
        states.append(TopupState(
            topup_id=topup_id,
            user_id=(record.user_id if record else None) or users.get(topup_id)
            or (chosen.user_id if chosen else None),
            state=state,
            amount_credits=record.credits if record else None,
            credited=paid_amount, reversed=refund_net + dispute_net, payment=chosen))
    return states


def chosen_payment(attempts: list[Payment]) -> Payment | None:
    """The payment to show: the first paid one, else the latest attempt."""
    paid = [p for p in attempts if p.paid]
    if paid:
        return paid[0]
    return attempts[-1] if attempts else None
