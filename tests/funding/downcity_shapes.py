"""Downcity exports in the exact shapes Downcity writes them, as real Parquet tables.

Current shape (`@downcity/services` 0.1.211): every column NOT NULL, TEXT except the INTEGER
ones (int64 in Parquet), '' for none, times as `YYYY-MM-DDTHH:MM:SS.sssZ` text.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

INTEGER = {"credits", "credits_delta", "credits_after", "amount_minor"}
COLUMNS = {
    "topups": ("topup_id", "user_id", "credits", "status", "note", "ref", "metadata_json",
               "created_at", "updated_at"),
    "payments": ("payment_id", "provider", "topup_id", "user_id", "provider_session_id",
                 "provider_payment_id", "provider_order_id", "credits", "amount_minor",
                 "currency", "status", "checkout_url", "metadata_json", "created_at",
                 "updated_at"),
    "ledger": ("entry_id", "user_id", "kind", "credits_delta", "credits_after", "note", "ref",
               "metadata_json", "created_at"),
    "accounts": ("user_id", "credits", "created_at", "updated_at"),
    "charges": ("charge_id", "user_id", "credits", "status", "note", "ref", "metadata_json",
                "created_at"),
}
T0 = "2026-11-20T10:00:00.000Z"


def current_table(folder: str, rows: list[dict]) -> pa.Table:
    """The current shape: NOT NULL text ('' for none) and int64 INTEGER columns."""
    columns = COLUMNS[folder]
    schema = pa.schema([pa.field(c, pa.int64() if c in INTEGER else pa.string(), nullable=False)
                        for c in columns])
    full = []
    for row in rows:
        filled = {c: row.get(c, 0 if c in INTEGER else "") for c in columns}
        for c in ("created_at", "updated_at"):
            if c in filled and filled[c] == "" and c not in row:
                filled[c] = T0
        if "metadata_json" in filled and filled["metadata_json"] == "":
            filled["metadata_json"] = "{}"
        full.append(filled)
    return pa.Table.from_pylist(full, schema=schema)


def write(balance_landing: Path, folder: str, table: pa.Table | bytes,
          name: str = "part-0.parquet") -> str:
    """Land a file under landing/balance/<folder>/; return its path relative to balance/."""
    path = balance_landing / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(table, bytes):
        path.write_bytes(table)
    else:
        pq.write_table(table, path)
    return f"{folder}/{name}"


def topup(topup_id: str, user_id: str, credits: int, status: str = "paid", **extra) -> dict:
    return {"topup_id": topup_id, "user_id": user_id, "credits": credits, "status": status,
            **extra}


def ledger(entry_id: str, user_id: str, kind: str, delta: int, after: int, ref: str = "",
           meta: dict | None = None, note: str = "", at: str = T0) -> dict:
    return {"entry_id": entry_id, "user_id": user_id, "kind": kind, "credits_delta": delta,
            "credits_after": after, "ref": ref, "note": note,
            "metadata_json": json.dumps(meta or {}), "created_at": at}


def payment(payment_id: str, topup_id: str, user_id: str, credits: int, status: str = "paid",
            **extra) -> dict:
    return {"payment_id": payment_id, "provider": "stripe", "topup_id": topup_id,
            "user_id": user_id, "credits": credits, "amount_minor": credits // 10_000,
            "currency": "usd", "status": status, **extra}


def account(user_id: str, credits: int) -> dict:
    return {"user_id": user_id, "credits": credits}
