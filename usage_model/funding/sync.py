"""Incremental Stripe sync: events (pulled and landed by the webhook) and objects, kept raw.

- First sync, or a cursor older than the 30 days Stripe keeps events: list objects by
  `created` window (from STRIPE_SYNC_START, or the stale cursor minus the lookback).
- Otherwise: the Events API from the cursor minus a lookback, re-fetching each changed object.
- Webhook events landed under `landing/stripe/events/` are consumed alike.
Events are deduplicated by id (`stripe_events`); every distinct object snapshot is kept
(`stripe_objects`); the cursor is written in the same transaction as the data it covers, so a
crash resumes from the last committed page with nothing counted twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.fs as pafs
import stripe

from usage_model import clock
from usage_model.funding.config import FundingConfig
from usage_model.funding.stripe_api import Retrying, list_all
from usage_model.funding.webhook import landed_event_files
from usage_model.sql import run_sql
from usage_model.storage import Location, location
from usage_model.stripe_client import api_base_of
from usage_model.warehouse import transaction

EVENT_TYPES = (
    "checkout.session.completed", "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed", "checkout.session.expired",
    "payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
    "payment_intent.processing", "charge.refunded", "charge.refund.updated",
    "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
    "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated",
)
SYNCED_TYPES = ("checkout.session", "payment_intent", "charge", "refund", "dispute")
CURSOR = "events_cursor"

@dataclass
class SyncResult:
    mode: str = "events"
    events_seen: int = 0
    events_new: int = 0
    webhook_events_new: int = 0
    webhook_files_rejected: list[str] = field(default_factory=list)
    objects_fetched: int = 0
    objects_listed: int = 0
    snapshots_new: int = 0
    cursor: int | None = None
    retries: int = 0


def canonical(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def store_snapshot(conn: duckdb.DuckDBPyConnection, obj: dict[str, Any], source: str,
                   now: datetime) -> int:
    """Keep one snapshot of an object; 1 when it is new, 0 when already known."""
    text = canonical(obj)
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    before = run_sql(conn, __file__, "snapshot_known", id=obj["id"],
                     snapshot_hash=digest).fetchall()[0][0]
    if before:
        return 0
    run_sql(conn, __file__, "insert_snapshot", id=obj["id"], type=obj.get("object"),
            created=obj.get("created"), livemode=obj.get("livemode"), snapshot_hash=digest,
            json=text, source=source, first_seen_at=now)
    return 1


def read_cursor(conn: duckdb.DuckDBPyConnection) -> int | None:
    rows = run_sql(conn, __file__, "read_cursor", cursor=CURSOR).fetchall()
    return int(rows[0][0]) if rows else None


def consumed_events(conn: duckdb.DuckDBPyConnection, ids: list[str]) -> set[str]:
    """Which of these event ids were consumed already."""
    if not ids:
        return set()
    return {r for (r,) in run_sql(conn, __file__, "existing_events", ids=ids).fetchall()}


def write_cursor(conn: duckdb.DuckDBPyConnection, cursor: int, now: datetime) -> None:
    run_sql(conn, __file__, "write_cursor", cursor=CURSOR, value=str(cursor), updated_at=now)


class StripeSource:
    """What the sync needs from Stripe (the SDK client behind retries)."""

    def __init__(self, client: stripe.StripeClient, call: Retrying | None = None) -> None:
        self.client = client
        self.call = call or Retrying()
        self.call.base_url = api_base_of(client)  # named in every failure message
        v1 = client.v1
        self._retrieve: dict[str, Callable[[str], Any]] = {
            "checkout.session": v1.checkout.sessions.retrieve,
            "payment_intent": v1.payment_intents.retrieve,
            "charge": v1.charges.retrieve,
            "refund": v1.refunds.retrieve,
            "dispute": v1.disputes.retrieve,
        }
        self._list: dict[str, Callable[[dict], Any]] = {
            "checkout.session": v1.checkout.sessions.list,
            "payment_intent": v1.payment_intents.list,
            "charge": v1.charges.list,
            "refund": v1.refunds.list,
            "dispute": v1.disputes.list,
            "event": v1.events.list,
        }

    def retrieve(self, kind: str, object_id: str) -> dict[str, Any]:
        return self.call(self._retrieve[kind], object_id).to_dict()

    def list(self, kind: str, params: dict[str, Any]) -> Iterable[dict[str, Any]]:
        return list_all(self.call, self._list[kind], params)


def _related(source: StripeSource, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Current state of the changed object, plus the refunds of a refunded charge."""
    kind = obj.get("object")
    if kind not in SYNCED_TYPES:
        return []
    fetched = [source.retrieve(kind, obj["id"])]
    if kind == "charge":
        fetched.extend(source.list("refund", {"charge": obj["id"], "limit": 100}))
    return fetched


def _consume(conn: duckdb.DuckDBPyConnection, events: list[dict[str, Any]], origin: str,
             source: StripeSource | None, now: datetime, result: SyncResult,
             cursor: int | None = None) -> int:
    """Consume new events (dedup by id): refetch their objects, then write in one transaction."""
    ids = [e["id"] for e in events]
    known = consumed_events(conn, ids)
    fresh = list({e["id"]: e for e in events if e["id"] not in known}.values())
    fetched: dict[str, list[dict[str, Any]]] = {}
    if source is not None:
        for event in fresh:
            obj = event["data"]["object"]
            if obj.get("id") not in fetched:
                fetched[obj["id"]] = _related(source, obj)
                result.objects_fetched += len(fetched[obj["id"]])
    with transaction(conn):
        for event in fresh:
            obj = event["data"]["object"]
            run_sql(conn, __file__, "insert_event", event_id=event["id"], type=event["type"],
                    created=event["created"], object_id=obj.get("id"),
                    livemode=event.get("livemode"), source=origin, consumed_at=now)
            result.snapshots_new += store_snapshot(conn, obj, f"event:{event['id']}", now)
        for objs in fetched.values():
            for obj in objs:
                result.snapshots_new += store_snapshot(conn, obj, "fetch", now)
        if cursor is not None:
            write_cursor(conn, cursor, now)
    return len(fresh)


def sync_events(conn: duckdb.DuckDBPyConnection, source: StripeSource, config: FundingConfig,
                now: datetime | None = None) -> SyncResult:
    """Pull from the Stripe API (events, or object lists on the first/stale sync)."""
    now = now or clock.now()
    result = SyncResult(cursor=read_cursor(conn))
    retention_floor = int(now.timestamp() - config.event_retention.total_seconds()) + 3600
    lookback = int(config.lookback.total_seconds())
    if result.cursor is None or result.cursor - lookback < retention_floor:
        result.mode = "list"
        start = result.cursor - lookback if result.cursor is not None else config.sync_start
        _sync_lists(conn, source, start, config, now, result)
    else:
        params = {"created": {"gte": result.cursor - lookback}, "types": list(EVENT_TYPES),
                  "limit": config.page_size}
        events = list(source.list("event", params))
        result.events_seen = len(events)
        events.sort(key=lambda e: (e["created"], e["id"]))
        for offset in range(0, len(events), config.page_size):
            chunk = events[offset:offset + config.page_size]
            top = max(result.cursor, chunk[-1]["created"])
            result.events_new += _consume(conn, chunk, "api", source, now, result, cursor=top)
            result.cursor = top
    result.retries = source.call.retries
    return result


def _sync_lists(conn: duckdb.DuckDBPyConnection, source: StripeSource, start: int | None,
                config: FundingConfig, now: datetime, result: SyncResult) -> None:
    params: dict[str, Any] = {"limit": config.page_size}
    if start is not None:
        params["created"] = {"gte": start}
    began = int(now.timestamp())
    for kind in SYNCED_TYPES:
        page: list[dict[str, Any]] = []
        for obj in source.list(kind, params):
            page.append(obj)
            if len(page) == config.page_size:
                result.snapshots_new += _store_page(conn, page, now)
                result.objects_listed += len(page)
                page = []
        result.snapshots_new += _store_page(conn, page, now)
        result.objects_listed += len(page)
    with transaction(conn):
        write_cursor(conn, began, now)
    result.cursor = began


def _store_page(conn: duckdb.DuckDBPyConnection, page: list[dict[str, Any]],
                now: datetime) -> int:
    with transaction(conn):
        return sum(store_snapshot(conn, obj, "list", now) for obj in page)


def _event_id(info: pafs.FileInfo) -> str:
    return info.base_name.removesuffix(".json")


def consume_landed(conn: duckdb.DuckDBPyConnection, events: Location | Path,
                   source: StripeSource | None, now: datetime | None = None,
                   batch: int = 200) -> SyncResult:
    """Consume webhook events landed as `<event_id>.json` in `events` (a local folder or an
    S3 prefix) that were not consumed yet."""
    now = now or clock.now()
    result = SyncResult(mode="webhook")
    where = location(events)
    files = landed_event_files(where)
    known = consumed_events(conn, [_event_id(info) for info in files])
    pending: list[dict[str, Any]] = []
    for info in files:
        if _event_id(info) in known:
            continue
        try:
            event = json.loads(where.read_bytes(info.path))
            if event.get("id") != _event_id(info) or "data" not in event:
                raise ValueError("not a Stripe event for this file name")
        except ValueError as exc:
            result.webhook_files_rejected.append(f"{info.base_name}: {exc}")
            continue
        pending.append(event)
    result.events_seen = len(pending)
    for offset in range(0, len(pending), batch):
        chunk = pending[offset:offset + batch]
        result.webhook_events_new += _consume(conn, chunk, "webhook", source, now, result)
    if source is not None:
        result.retries = source.call.retries
    return result
