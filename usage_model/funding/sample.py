"""Sample Downcity `service_balance_topups` export for the demo (deterministic per seed).

A few dozen topups over the two weeks ending `end`: mostly `paid` (the checkout completed),
some `pending` from the last hours of `end`, one `pending` left for days (stale), one
`cancelled` (the session expired). Amounts are credits = USD cents x 10,000 (DESIGN.md).
Downcity records alone credit nothing: a credit needs Stripe's evidence (funding rule 1), so
without Stripe the reconciliation report shows paid records as `not_credited`.
"""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CREDITS_PER_CENT = 10_000
PACKS_CENTS = (500, 1_000, 2_000, 2_500, 5_000, 10_000)  # the checkout's topup packs
PAID, PENDING_RECENT = 30, 4
HISTORY_DAYS = 14
STALE_PENDING_AGE = timedelta(days=3)

TOPUPS_SCHEMA = pa.schema([
    ("topup_id", pa.string()),
    ("user_id", pa.string()),
    ("amount", pa.int64()),
    ("unit", pa.string()),
    ("status", pa.string()),
    ("note", pa.string()),
    ("ref", pa.string()),
    ("metadata_json", pa.string()),
    ("created_at", pa.timestamp("ms", tz="UTC")),
    ("updated_at", pa.timestamp("ms", tz="UTC")),
])


def _row(rng: random.Random, users: list[str], status: str, created: datetime,
         updated: datetime) -> dict[str, object]:
    topup_id = f"topup_{rng.getrandbits(48):012x}"
    cents = rng.choice(PACKS_CENTS)
    return {
        "topup_id": topup_id,
        "user_id": rng.choice(users),
        "amount": cents * CREDITS_PER_CENT,
        "unit": "credits",
        "status": status,
        "note": f"Stripe checkout, ${cents // 100}.{cents % 100:02d}",
        "ref": None,
        "metadata_json": json.dumps({"payment_id": f"pay_{rng.getrandbits(48):012x}",
                                     "provider": "stripe", "unit_amount": cents,
                                     "currency": "usd"}),
        "created_at": created,
        "updated_at": updated,
    }


def sample_topup_rows(users: list[str], seed: int, end: date) -> list[dict[str, object]]:
    """The rows `write_sample_topups` writes (oldest first)."""
    if not users:
        raise ValueError("sample topups need at least one user")
    rng = random.Random(seed)
    start = datetime.combine(end - timedelta(days=HISTORY_DAYS - 1), time(), UTC)
    end_of_day = datetime.combine(end, time(23, 59), UTC)
    rows = []
    for _ in range(PAID):
        created = start + timedelta(seconds=rng.randrange(HISTORY_DAYS * 86_400 - 7_200))
        rows.append(_row(rng, users, "paid", created,
                         created + timedelta(seconds=rng.randrange(20, 600))))
    for _ in range(PENDING_RECENT):  # checkouts opened in the last hours of `end`
        created = end_of_day - timedelta(seconds=rng.randrange(60, 7_200))
        rows.append(_row(rng, users, "pending", created, created))
    stale = end_of_day - STALE_PENDING_AGE
    rows.append(_row(rng, users, "pending", stale, stale))
    expired = start + timedelta(days=2, hours=9)
    rows.append(_row(rng, users, "cancelled", expired, expired + timedelta(hours=24)))
    return sorted(rows, key=lambda r: (r["created_at"], r["topup_id"]))


def write_sample_topups(balance_landing: Path, users: list[str], seed: int, end: date) -> int:
    """Write the export as `topups/dt=<end>/service_balance_topups.parquet`; return its rows.

    Written to a hidden temporary name and renamed, so a reader never sees half a file.
    """
    rows = sample_topup_rows(users, seed, end)
    folder = balance_landing / "topups" / f"dt={end.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "service_balance_topups.parquet"
    tmp = folder / f".{target.name}.tmp"
    pq.write_table(pa.Table.from_pylist(rows, schema=TOPUPS_SCHEMA), tmp)
    os.replace(tmp, target)
    return len(rows)
