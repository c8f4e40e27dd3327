"""Builders for Stripe objects with the real shape (keys, types, id prefixes, nesting).

Every key used here exists on the same object in Stripe's own fixtures (`fixtures3.json`);
`tests/funding/test_fake_shapes.py` checks it. Values are realistic, not placeholders.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, livemode: bool = False, length: int = 24) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    if prefix == "cs":
        return f"cs_{'live' if livemode else 'test'}_{body}{body[:34]}"
    return f"{prefix}_{body}"


def checkout_session(
    *, created: int, amount_total: int, currency: str, metadata: dict[str, str],
    client_reference_id: str | None, livemode: bool, customer: str | None = None,
) -> dict[str, Any]:
    sid = new_id("cs", livemode)
    return {
        "id": sid,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None, "provider": None},
        "billing_address_collection": None,
        "cancel_url": "https://downcity.example/topup/cancel",
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "created": created,
        "currency": currency,
        "custom_fields": [],
        "customer": customer,
        "customer_creation": "if_required",
        "customer_details": None,
        "customer_email": None,
        "expires_at": created + 24 * 3600,
        "invoice": None,
        "livemode": livemode,
        "locale": None,
        "metadata": dict(metadata),
        "mode": "payment",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "recovered_from": None,
        "setup_intent": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": "https://downcity.example/topup/success",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": f"https://checkout.stripe.com/c/pay/{sid}",
    }


def payment_intent(
    *, created: int, amount: int, currency: str, metadata: dict[str, str], livemode: bool,
    customer: str | None = None,
) -> dict[str, Any]:
    pid = new_id("pi")
    return {
        "id": pid,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{pid}_secret_{new_id('x')[2:]}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": livemode,
        "metadata": dict(metadata),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": new_id("pm"),
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def charge(*, created: int, pi: dict[str, Any], status: str) -> dict[str, Any]:
    succeeded = status == "succeeded"
    return {
        "id": new_id("ch"),
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": pi["amount"] if succeeded else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn") if succeeded else None,
        "billing_details": {
            "address": {"city": None, "country": "US", "line1": None, "line2": None,
                        "postal_code": "94107", "state": None},
            "email": None, "name": None, "phone": None,
        },
        "calculated_statement_descriptor": "DOWNCITY",
        "captured": succeeded,
        "created": created,
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": None,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if succeeded else "card_declined",
        "failure_message": None if succeeded else "Your card was declined.",
        "fraud_details": {},
        "livemode": pi["livemode"],
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": None,
        "outcome": {"network_status": "approved_by_network" if succeeded else "declined_by_network",
                    "reason": None, "seller_message": "Payment complete.",
                    "type": "authorized" if succeeded else "issuer_declined"},
        "paid": succeeded,
        "payment_intent": pi["id"],
        "payment_method": pi["payment_method"],
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(*, created: int, ch: dict[str, Any], amount: int, status: str) -> dict[str, Any]:
    return {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn"),
        "charge": ch["id"],
        "created": created,
        "currency": ch["currency"],
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "metadata": {},
        "payment_intent": ch["payment_intent"],
        "reason": "requested_by_customer",
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


def balance_transaction(*, created: int, amount: int, currency: str, source: str,
                        kind: str) -> dict[str, Any]:
    return {
        "id": new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created,
        "created": created,
        "currency": currency,
        "description": f"Chargeback {'withdrawal' if amount < 0 else 'reversal'} for {source}",
        "exchange_rate": None,
        "fee": 1500 if amount < 0 else -1500,
        "fee_details": [],
        "net": amount - 1500 if amount < 0 else amount + 1500,
        "reporting_category": kind,
        "source": source,
        "status": "available",
        "type": kind,
    }


def dispute(*, created: int, ch: dict[str, Any], amount: int, status: str) -> dict[str, Any]:
    return {
        "id": new_id("dp"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": ch["id"],
        "created": created,
        "currency": ch["currency"],
        "evidence_details": {"due_by": created + 7 * 86400, "has_evidence": False,
                             "past_due": False, "submission_count": 0},
        "is_charge_refundable": False,
        "livemode": ch["livemode"],
        "metadata": {},
        "payment_intent": ch["payment_intent"],
        "reason": "fraudulent",
        "status": status,
    }


def customer(*, created: int, email: str | None, name: str | None,
             metadata: dict[str, str], livemode: bool) -> dict[str, Any]:
    return {
        "id": new_id("cus", length=14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": email,
        "invoice_prefix": secrets.token_hex(4).upper(),
        "livemode": livemode,
        "metadata": dict(metadata),
        "name": name,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def event(*, created: int, type_: str, obj: dict[str, Any], livemode: bool,
          api_version: str) -> dict[str, Any]:
    return {
        "id": new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": {"object": obj},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


def meter_event(*, created: int, event_name: str, identifier: str, payload: dict[str, str],
                timestamp: int, livemode: bool) -> dict[str, Any]:
    return {
        "object": "billing.meter_event",
        "created": created,
        "event_name": event_name,
        "identifier": identifier,
        "livemode": livemode,
        "payload": dict(payload),
        "timestamp": timestamp,
    }
