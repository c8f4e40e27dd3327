"""Landed Downcity balance exports for tests (funding, UI): topups written as Parquet; where
landed Stripe webhook events are."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from usage_model import clock
from usage_model.config import Settings


def clock_iso(before: timedelta = timedelta(0)) -> str:
    """`now() - before` as Downcity writes it (ISO with Z)."""
    return (clock.now() - before).strftime("%Y-%m-%dT%H:%M:%SZ")


def events_folder(settings: Settings) -> Path:
    """The documented local folder of landed Stripe webhook events: <landing>/stripe/events."""
    return settings.landing / "stripe" / "events"


def write_topups(settings: Settings, rows: list[dict], name: str = "part-0.parquet") -> Path:
    folder = settings.balance_landing / "topups"
    folder.mkdir(parents=True, exist_ok=True)
    recent = clock_iso(timedelta(hours=2))  # younger than any stale-pending threshold
    full = [{"topup_id": r["topup_id"], "user_id": r.get("user_id"), "amount": r.get("amount"),
             "unit": r.get("unit", "credits"), "status": r.get("status", "pending"),
             "note": None, "ref": None, "metadata_json": None,
             "created_at": r.get("created_at", recent),
             "updated_at": r.get("updated_at", recent)} for r in rows]
    path = folder / name
    pq.write_table(pa.Table.from_pylist(full), path)
    return path
