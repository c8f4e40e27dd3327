"""Stripe Billing meter events: the additive sink.

Each version carries the difference between the period's per-user totals of the configured
measure and what was already sent (delivered, pending or rejected) for that period, one event
per user: `event_name`, `payload.stripe_customer_id` (from the customer map),
`payload.value` (a positive integer), a deterministic `identifier`
(`<export>:<period>:v<version>:<user hash>`) and a `timestamp` = the period's last second
(now, for the current period). Stripe accepts timestamps up to 35 days back; an older event is
recorded as rejected (`outside_stripe_window`) and not sent. A decrease cannot be sent as a
meter event; it is counted and reported.

Delivery: at most `max_requests_per_second` requests, retries with backoff on 429, 5xx and
connection errors; Stripe's `resource_already_exists` on an identifier means "already
delivered" (a crash between send and record). Each event's outcome is its row in
`export_meter_events`.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import stripe

from usage_model import clock
from usage_model.config import Environment, Settings
from usage_model.exports.batch import Batch
from usage_model.exports.sinks import DeliveryFailed
from usage_model.hooks.config import StripeMeterExport
from usage_model.hooks.protocol import Period

STRIPE_WINDOW = timedelta(days=35)
WINDOW_MARGIN = timedelta(hours=1)  # never send an event that could age out in flight
EVENT_SCHEMA = pa.schema([
    ("identifier", pa.string()), ("user_id", pa.string()),
    ("stripe_customer_id", pa.string()), ("value", pa.int64()), ("timestamp", pa.int64()),
])
ACCOUNTED_SQL = """
SELECT user_id, sum(value)::BIGINT FROM export_meter_events
WHERE export = ? AND period = ? GROUP BY user_id
"""
UPSERT_EVENT_SQL = """
INSERT INTO export_meter_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (identifier) DO UPDATE SET status = excluded.status, detail = excluded.detail,
    updated_at = excluded.updated_at
"""


def identifier(export: str, period: str, version: int, user_id: str) -> str:
    return f"{export}:{period}:v{version}:{hashlib.sha256(user_id.encode()).hexdigest()[:16]}"


def event_timestamp(period: Period, tz: ZoneInfo, now: datetime) -> int:
    end = datetime.combine(period.end, datetime.min.time(), tzinfo=tz) - timedelta(seconds=1)
    return int(min(end, now).timestamp())


def build_diff(tz: ZoneInfo, now: Callable[[], datetime]):
    def diff(conn: duckdb.DuckDBPyConnection, source: pa.Table, export: StripeMeterExport,
             period: Period, version: int) -> pa.Table:
        value_col, customers = export.value, export.customer_map
        totals: dict[str, int] = {}
        for user, value in zip(source.column("user_id").to_pylist(),
                               source.column(value_col).to_pylist(), strict=True):
            if user is not None and value is not None:
                totals[user] = totals.get(user, 0) + int(value)
        accounted = dict(conn.execute(ACCOUNTED_SQL, [export.name, period.key]).fetchall())
        ts = event_timestamp(period, tz, now())
        rows, unmapped, decreases = [], 0, 0
        for user in sorted(totals):
            delta = totals[user] - accounted.get(user, 0)
            if delta < 0:
                decreases += 1
            if delta <= 0:
                continue
            if user not in customers:
                unmapped += 1
                continue
            rows.append({"identifier": identifier(export.name, period.key, version, user),
                         "user_id": user, "stripe_customer_id": customers[user],
                         "value": delta, "timestamp": ts})
        table = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)
        return table.replace_schema_metadata({"unmapped_users": str(unmapped),
                                              "decreases_not_sent": str(decreases)})

    return diff


class StripeMeterSink:
    def __init__(self, client: stripe.StripeClient, conn: duckdb.DuckDBPyConnection,
                 event_name: str, *, max_requests_per_second: float = 20.0,
                 max_attempts: int = 6, backoff_s: float = 0.5,
                 now: Callable[[], datetime] = clock.now,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.conn = conn
        self.event_name = event_name
        self.min_interval = 1.0 / max_requests_per_second
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.now = now
        self.sleep = sleep
        self._last_request = 0.0
        self.requests_sent = 0

    def _record(self, batch: Batch, row: dict, status: str, detail: str | None) -> None:
        self.conn.execute(UPSERT_EVENT_SQL, [
            row["identifier"], batch.export, batch.period, batch.version, row["user_id"],
            row["stripe_customer_id"], row["value"], row["timestamp"], status, detail,
            datetime.now(UTC),
        ])

    def _throttle(self) -> None:
        wait = self._last_request + self.min_interval - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last_request = time.monotonic()

    def _send(self, row: dict) -> tuple[str, str | None]:
        params = {
            "event_name": self.event_name, "identifier": row["identifier"],
            "timestamp": row["timestamp"],
            "payload": {"stripe_customer_id": row["stripe_customer_id"],
                        "value": str(row["value"])},
        }
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            self._throttle()
            self.requests_sent += 1
            try:
                self.client.v1.billing.meter_events.create(params=params)
                return "delivered", None
            except stripe.InvalidRequestError as exc:
                if exc.code == "resource_already_exists":
                    return "delivered", "identifier already received by Stripe"
                return "rejected", f"{exc.code or 'invalid_request'}"
            except stripe.RateLimitError:
                last = "HTTP 429 rate limited"
            except stripe.APIConnectionError:
                last = "connection failed"
            except stripe.APIError as exc:
                last = f"HTTP {exc.http_status}"
            except stripe.AuthenticationError:
                raise DeliveryFailed("Stripe rejected STRIPE_SECRET_KEY (authentication)") \
                    from None
            if attempt < self.max_attempts:
                self.sleep(min(30.0, self.backoff_s * 2 ** (attempt - 1))
                           * (0.5 + random.random() / 2))
        raise DeliveryFailed(f"meter event {row['identifier']}: {last} after "
                             f"{self.max_attempts} attempts")

    def deliver(self, batch: Batch) -> str:
        done = dict(self.conn.execute(
            "SELECT identifier, status FROM export_meter_events WHERE export = ? AND period = ?"
            " AND version = ? AND status <> 'pending'",
            [batch.export, batch.period, batch.version]).fetchall())
        oldest = int((self.now() - STRIPE_WINDOW + WINDOW_MARGIN).timestamp())
        counts = {"delivered": 0, "rejected": 0, "already": 0}
        for row in batch.table.to_pylist():
            if row["identifier"] in done:
                counts["already"] += 1
                continue
            if row["timestamp"] < oldest:
                self._record(batch, row, "rejected", "outside_stripe_window")
                counts["rejected"] += 1
                continue
            self._record(batch, row, "pending", None)
            status, detail = self._send(row)
            self._record(batch, row, status, detail)
            counts[status] += 1
        meta = batch.table.schema.metadata or {}
        unmapped = int(meta.get(b"unmapped_users", b"0"))
        decreases = int(meta.get(b"decreases_not_sent", b"0"))
        return (f"{counts['delivered']} meter events delivered, {counts['rejected']} rejected, "
                f"{counts['already']} already done, {unmapped} users without a customer, "
                f"{decreases} decreases not sent")


def setup(export: StripeMeterExport, settings: Settings, conn: duckdb.DuckDBPyConnection):
    from usage_model.exports.factory import SinkSetup

    env = Environment.load()
    key = env.stripe_key()
    if not key:
        return SinkSetup(None, reason="STRIPE_SECRET_KEY is not set: meter events not sent")
    base = env.stripe_api_base
    client = stripe.StripeClient(key, base_addresses={"api": base} if base else None,
                                 max_network_retries=0)
    sink = StripeMeterSink(client, conn, export.event_name,
                           max_requests_per_second=export.max_requests_per_second)
    return SinkSetup(sink, diff=build_diff(settings.tz, clock.now))


__all__ = ["StripeMeterSink", "build_diff", "identifier", "setup"]
