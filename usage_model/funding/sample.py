"""Sample Downcity balance exports and Stripe webhook events for the demo (deterministic).

Downcity's side, in its current export shape (0.1.211: NOT NULL text, '' for none, INTEGER
credits, `YYYY-MM-DDTHH:MM:SS.sssZ` times), under `landing/balance/<export>/dt=<end>/`:
topups (`credits`, statuses `paid`, `pending`, `canceled`), payments, the wallet ledger
(`init`, `topup`, `add`, `charge` entries, including manual credits by an admin), accounts and
charges. Stripe's side: webhook events as Stripe delivers them, landed under
`landing/stripe/events/<event id>.json` (what the webhook receiver writes), so the demo needs
no Stripe key. Together they show every reconciliation verdict (see `STORY`).

Credits are USD cents x 10,000 (1 USD = 1,000,000 credits).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from usage_model.funding.downcity import CURRENT_COLUMNS as COLUMNS
from usage_model.funding.downcity import INTEGER_COLUMNS as INTEGER
from usage_model.funding.webhook import land_event
from usage_model.storage import Location, location

CREDITS_PER_CENT = 10_000
PACKS_CENTS = (500, 1_000, 2_000, 2_500, 5_000, 10_000)  # the checkout's topup packs
HISTORY_DAYS = 14
PAID_OK = 24
ADMIN = "ops@downcity.example"
# What happens to each special topup (besides PAID_OK ordinary paid-and-credited ones).
STORY = {
    "downcity_only": 2,     # credited, Downcity payment paid, its Stripe events not landed
    "manual": 2,            # credited by an admin (finishTopup), no payment at all
    "not_credited": 1,      # paid in Stripe; Downcity never got the webhook (topup pending)
    "double_credit": 1,     # credited twice
    "amount_mismatch": 1,   # Stripe charged another amount than the topup's credits
    "refunded": 1,          # refunded in Stripe, credit kept
    "disputed": 1,          # disputed in Stripe, credit kept
    "duplicate_payment": 1,  # a second paid checkout for an ok topup
    "pending": 3,           # checkouts opened in the last hours of `end`
    "stale": 1,             # a pending checkout left for days
    "canceled": 1,          # the checkout expired
}
TABLE_NAMES = {"topups": "service_balance_topups", "payments": "service_payment_payments",
               "ledger": "service_balance_ledger", "accounts": "service_balance_accounts",
               "charges": "service_balance_charges"}


def downcity_time(moment: datetime) -> str:
    """Downcity's time text: `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC, milliseconds)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class _Builder:
    rng: random.Random
    rows: dict[str, list[dict]] = field(default_factory=lambda: {k: [] for k in COLUMNS})
    events: list[dict] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)
    moves: list[tuple] = field(default_factory=list)

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def entry(self, entry_id: str, user: str, kind: str, delta: int, at: datetime,
              ref: str = "", note: str = "", meta: dict | None = None) -> None:
        self.balances[user] = self.balances.get(user, 0) + delta
        self.moves.append((at, entry_id, user, kind, delta, ref, note, meta or {}))

    def ledger_rows(self) -> list[dict]:
        """Downcity's ledger in insert order: an `init` entry per wallet, then every move with
        the balance after it."""
        running: dict[str, int] = {}
        rows = []
        for at, entry_id, user, kind, delta, ref, note, meta in sorted(self.moves):
            if user not in running:
                running[user] = 0
                rows.append(_row("ledger", entry_id=f"bal_init:{user}", user_id=user,
                                 kind="init", credits_delta=0, credits_after=0,
                                 created_at=at - timedelta(days=30)))
            running[user] += delta
            rows.append(_row("ledger", entry_id=entry_id, user_id=user, kind=kind,
                             credits_delta=delta, credits_after=running[user], note=note,
                             ref=ref, metadata_json=json.dumps(meta), created_at=at))
        return rows

    def stripe_event(self, kind: str, obj: dict, at: datetime) -> None:
        self.events.append({
            "id": f"evt_{self.hex(24)}", "object": "event", "api_version": "2026-10-28.endive",
            "created": int(at.timestamp()), "livemode": False, "type": kind,
            "data": {"object": obj}, "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None}})

    def stripe_checkout(self, topup_id: str, user: str, payment_id: str, cents: int,
                        at: datetime) -> dict:
        """A paid Checkout Session and its PaymentIntent, as Stripe's webhooks deliver them."""
        meta = {"topup_id": topup_id, "user_id": user, "payment_id": payment_id}
        pi_id, ch_id = f"pi_{self.hex(24)}", f"ch_{self.hex(24)}"
        created = int(at.timestamp())
        pi = {"id": pi_id, "object": "payment_intent", "amount": cents, "amount_received": cents,
              "currency": "usd", "status": "succeeded", "latest_charge": ch_id,
              "metadata": meta, "created": created, "livemode": False}
        session = {"id": f"cs_test_{self.hex(32)}", "object": "checkout.session",
                   "amount_total": cents, "currency": "usd", "status": "complete",
                   "payment_status": "paid", "payment_intent": pi_id,
                   "client_reference_id": topup_id, "metadata": meta, "created": created,
                   "livemode": False, "mode": "payment"}
        self.stripe_event("payment_intent.succeeded", pi, at + timedelta(seconds=20))
        self.stripe_event("checkout.session.completed", session, at + timedelta(seconds=21))
        return {"session": session, "pi": pi, "charge": ch_id}


def _row(table: str, **values: object) -> dict:
    """A row in Downcity's current shape: '' for none, times as millisecond Z text."""
    out = {}
    for column in COLUMNS[table]:
        value = values.get(column)
        if isinstance(value, datetime):
            value = downcity_time(value)
        out[column] = (0 if column in INTEGER else "") if value is None else value
    if "metadata_json" in out and out["metadata_json"] == "":
        out["metadata_json"] = "{}"
    return out


def _topup(b: _Builder, users: list[str], status: str, at: datetime, kind: str,
           cents: int | None = None) -> dict:
    cents = cents or b.rng.choice(PACKS_CENTS)
    row = _row("topups", topup_id=f"topup_{b.hex(16)}", user_id=b.rng.choice(users),
               credits=cents * CREDITS_PER_CENT, status=status,
               note=f"Stripe checkout, ${cents // 100}.{cents % 100:02d}",
               metadata_json=json.dumps({"pack_cents": cents, "story": kind}), created_at=at,
               updated_at=at + timedelta(seconds=30) if status != "pending" else at)
    b.rows["topups"].append(row)
    return row


def _payment(b: _Builder, topup: dict, status: str, at: datetime,
             session_id: str = "", pi_id: str = "") -> str:
    payment_id = f"pay_{b.hex(32)}"
    b.rows["payments"].append(_row(
        "payments", payment_id=payment_id, provider="stripe", topup_id=topup["topup_id"],
        user_id=topup["user_id"], provider_session_id=session_id, provider_payment_id=pi_id,
        credits=topup["credits"], amount_minor=topup["credits"] // CREDITS_PER_CENT,
        currency="usd", status=status,
        checkout_url=f"https://checkout.stripe.com/c/pay/{session_id}" if session_id else "",
        created_at=at, updated_at=at + timedelta(seconds=30)))
    return payment_id


def _paid(b: _Builder, users: list[str], at: datetime, kind: str, *, stripe: bool = True,
          credit_times: int = 1, cents: int | None = None,
          stripe_cents: int | None = None) -> dict:
    """A topup paid by Stripe checkout and credited by Downcity's webhook handler."""
    topup = _topup(b, users, "paid", at, kind, cents)
    payment_id = f"pay_{b.hex(32)}"
    paid = None
    if stripe:
        cents = stripe_cents or topup["credits"] // CREDITS_PER_CENT
        paid = b.stripe_checkout(topup["topup_id"], topup["user_id"], payment_id, cents, at)
    b.rows["payments"].append(_row(
        "payments", payment_id=payment_id, provider="stripe", topup_id=topup["topup_id"],
        user_id=topup["user_id"],
        provider_session_id=paid["session"]["id"] if paid else f"cs_test_{b.hex(32)}",
        provider_payment_id=paid["pi"]["id"] if paid else "", credits=topup["credits"],
        amount_minor=topup["credits"] // CREDITS_PER_CENT, currency="usd", status="paid",
        created_at=at, updated_at=at + timedelta(seconds=30)))
    for n in range(credit_times):
        b.entry(f"bal_topup:{topup['topup_id']}" + (f":retry{n}" if n else ""),
                topup["user_id"], "topup", topup["credits"], at + timedelta(seconds=30 + n),
                ref=topup["topup_id"], note="topup paid",
                meta={"payment_id": payment_id, "provider": "stripe"})
    return {"topup": topup, "stripe": paid, "payment_id": payment_id}


def sample_balance(users: list[str], seed: int, end: date) -> tuple[dict[str, list[dict]],
                                                                     list[dict]]:
    """Downcity's exports (rows per export) and Stripe's events for the demo."""
    if not users:
        raise ValueError("sample topups need at least one user")
    b = _Builder(random.Random(seed))
    start = datetime.combine(end - timedelta(days=HISTORY_DAYS - 1), time(), UTC)
    end_of_day = datetime.combine(end, time(23, 59), UTC)

    def when() -> datetime:
        return start + timedelta(seconds=b.rng.randrange(HISTORY_DAYS * 86_400 - 7_200),
                                 milliseconds=b.rng.randrange(1000))

    ok = [_paid(b, users, when(), "ok") for _ in range(PAID_OK)]
    for _ in range(STORY["downcity_only"]):
        _paid(b, users, end_of_day - timedelta(minutes=b.rng.randrange(5, 50)),
              "downcity_only", stripe=False)
    for _ in range(STORY["manual"]):
        at = when()
        topup = _topup(b, users, "paid", at, "manual")
        b.entry(f"bal_topup:{topup['topup_id']}", topup["user_id"], "topup", topup["credits"],
                at + timedelta(minutes=2), ref=topup["topup_id"], note=f"manual topup by {ADMIN}",
                meta={"admin_id": ADMIN, "reason": "support goodwill"})
    for _ in range(STORY["not_credited"]):
        at = when()
        topup = _topup(b, users, "pending", at, "not_credited")
        payment_id = f"pay_{b.hex(32)}"
        paid = b.stripe_checkout(topup["topup_id"], topup["user_id"], payment_id,
                                 topup["credits"] // CREDITS_PER_CENT, at)
        b.rows["payments"].append(_row(
            "payments", payment_id=payment_id, provider="stripe", topup_id=topup["topup_id"],
            user_id=topup["user_id"], provider_session_id=paid["session"]["id"],
            credits=topup["credits"], amount_minor=topup["credits"] // CREDITS_PER_CENT,
            currency="usd", status="pending", created_at=at, updated_at=at))
    for _ in range(STORY["double_credit"]):
        _paid(b, users, when(), "double_credit", credit_times=2)
    for _ in range(STORY["amount_mismatch"]):  # Stripe charged half the pack's price
        _paid(b, users, when(), "amount_mismatch", cents=PACKS_CENTS[-1],
              stripe_cents=PACKS_CENTS[-1] // 2)
    for kind in ("refunded", "disputed"):
        paid = _paid(b, users, when(), kind)
        cents = paid["topup"]["credits"] // CREDITS_PER_CENT
        at = datetime.fromtimestamp(paid["stripe"]["session"]["created"], UTC) + timedelta(days=1)
        pi_id = paid["stripe"]["pi"]["id"]
        if kind == "refunded":
            b.stripe_event("refund.created", {
                "id": f"re_{b.hex(24)}", "object": "refund", "amount": cents // 2,
                "currency": "usd", "status": "succeeded", "charge": paid["stripe"]["charge"],
                "payment_intent": pi_id, "created": int(at.timestamp()),
                "metadata": {}}, at)
        else:
            b.stripe_event("charge.dispute.funds_withdrawn", {
                "id": f"dp_{b.hex(24)}", "object": "dispute", "amount": cents,
                "currency": "usd", "status": "needs_response", "reason": "fraudulent",
                "charge": paid["stripe"]["charge"], "payment_intent": pi_id,
                "balance_transactions": [{"amount": -cents, "currency": "usd"}],
                "created": int(at.timestamp()), "livemode": False}, at)
    for first in ok[:STORY["duplicate_payment"]]:
        topup = first["topup"]
        at = datetime.fromtimestamp(first["stripe"]["session"]["created"], UTC) + \
            timedelta(minutes=3)
        b.stripe_checkout(topup["topup_id"], topup["user_id"], first["payment_id"],
                          topup["credits"] // CREDITS_PER_CENT, at)
    for _ in range(STORY["pending"]):
        at = end_of_day - timedelta(seconds=b.rng.randrange(60, 7_200))
        _payment(b, _topup(b, users, "pending", at, "pending"), "pending", at,
                 session_id=f"cs_test_{b.hex(32)}")
    for _ in range(STORY["stale"]):
        at = end_of_day - timedelta(days=3)
        _payment(b, _topup(b, users, "pending", at, "stale"), "pending", at,
                 session_id=f"cs_test_{b.hex(32)}")
    for _ in range(STORY["canceled"]):
        at = start + timedelta(days=2, hours=9)
        topup = _topup(b, users, "canceled", at, "canceled")
        _payment(b, topup, "expired", at, session_id=f"cs_test_{b.hex(32)}")
    # usage charged against wallets, and a sign-up bonus added by an admin
    for user in sorted(b.balances)[:10]:
        at = end_of_day - timedelta(hours=b.rng.randrange(1, 48))
        charge_id = f"chg_{b.hex(16)}"
        credits = b.rng.randrange(1, 50) * 10_000
        b.rows["charges"].append(_row("charges", charge_id=charge_id, user_id=user,
                                      credits=credits, status="settled", note="usage",
                                      ref=f"charge:{charge_id}", created_at=at))
        b.entry(f"bal_charge:charge:{charge_id}", user, "charge", -credits, at,
                ref=f"charge:{charge_id}", note="usage")
    bonus_user = sorted(b.balances)[-1]
    b.entry(f"bal_add:{b.hex(12)}", bonus_user, "add", 250_000, end_of_day - timedelta(days=5),
            note="sign-up bonus", meta={"admin_id": ADMIN})
    for index, (user, credits) in enumerate(sorted(b.balances.items())):
        # one account row lags its own ledger: account_ledger_mismatch in the demo
        drift = 100_000 if index == 0 else 0
        b.rows["accounts"].append(_row("accounts", user_id=user, credits=credits + drift,
                                       created_at=start - timedelta(days=30),
                                       updated_at=end_of_day))
    b.rows["ledger"] = b.ledger_rows()
    return b.rows, b.events


def _write(root: Location, path: str, rows: list[dict], columns: tuple[str, ...]) -> None:
    """Written whole or not at all (storage.Location.write_atomic): a reader never sees half
    a file, locally or on S3."""
    schema = pa.schema([pa.field(c, pa.int64() if c in INTEGER else pa.string(),
                                 nullable=False) for c in columns])
    table = pa.Table.from_pylist(rows, schema=schema)
    root.write_atomic(root.path(path), lambda fs, target: pq.write_table(
        table, target, filesystem=fs))


def write_sample_balance(balance_landing: Location | Path, stripe_events: Location | Path,
                         users: list[str], seed: int, end: date) -> dict[str, int]:
    """Write Downcity's five exports as `<export>/dt=<end>/<table>.parquet` under the balance
    landing (a local folder or an S3 prefix) and Stripe's events as the webhook receiver lands
    them (`land_event`, in a folder or under a prefix); return the rows per export and the
    `stripe_events` count."""
    exports, events = sample_balance(users, seed, end)
    root = location(balance_landing)
    for name, rows in exports.items():
        _write(root, f"{name}/dt={end.isoformat()}/{TABLE_NAMES[name]}.parquet", rows,
               COLUMNS[name])
    events_landing = location(stripe_events)
    for event in events:
        land_event(events_landing, event["id"], json.dumps(event).encode())
    return {**{k: len(v) for k, v in exports.items()}, "stripe_events": len(events)}
