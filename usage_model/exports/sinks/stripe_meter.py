"""Stripe Billing meter events: the additive sink.

Each version carries the difference between the period's per-user totals of the configured
measure and what was already sent (delivered, pending or rejected) for that period, one event
per user: `event_name`, `payload.stripe_customer_id` (from the customer map),
`payload.value` (a positive integer), a deterministic `identifier`
(`<export>:<period>:v<version>:<user hash>`) and a `timestamp` = the period's last second
(now, for the current period). Stripe accepts timestamps up to 35 days back; an older event is
recorded as rejected (`outside_stripe_window`) and not sent. A decrease cannot be sent as a
meter event; it is counted and reported.

Delivery: at most `max_requests_per_second` requests, through the one Stripe client factory
(pinned API version), retried under the `STRIPE_METER` policy of usage_model/retry.py on 429,
5xx and connection errors; Stripe's `resource_already_exists` on an identifier means "already
delivered" (a crash between send and record). Each event's outcome is its row in
`export_meter_events`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import stripe

from usage_model import clock, retry
from usage_model.config import Environment, Settings
from usage_model.exports.batch import Batch
from usage_model.exports.sinks import DeliveryFailed
from usage_model.hooks.config import StripeMeterExport
from usage_model.hooks.protocol import Period
from usage_model.sql import run_sql
from usage_model.stripe_client import StripeAuthFailed, make_client

STRIPE_WINDOW = timedelta(days=35)
WINDOW_MARGIN = timedelta(hours=1)  # never send an event that could age out in flight
EVENT_SCHEMA = pa.schema([
    ("identifier", pa.string()), ("user_id", pa.string()),
    ("stripe_customer_id", pa.string()), ("value", pa.int64()), ("timestamp", pa.int64()),
])


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
        accounted = dict(run_sql(conn, __file__, "accounted_values", export=export.name,
                                 period=period.key).fetchall())
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


def _retryable(exc: BaseException) -> bool:
    """Rate limits, 5xx and connection failures pass with time (an InvalidRequestError is an
    outcome, not a failure: `_create` returns it)."""
    return isinstance(exc, stripe.RateLimitError | stripe.APIConnectionError | stripe.APIError)


def _failure(exc: stripe.StripeError) -> str:
    if isinstance(exc, stripe.RateLimitError):
        return "HTTP 429 rate limited"
    if isinstance(exc, stripe.APIConnectionError):
        return "connection failed"
    return f"HTTP {exc.http_status}"


class StripeMeterSink:
    def __init__(self, client: stripe.StripeClient, conn: duckdb.DuckDBPyConnection,
                 event_name: str, *, max_requests_per_second: float = 20.0,
                 max_attempts: int = retry.STRIPE_METER.attempts,
                 backoff_s: float = retry.STRIPE_METER.first_delay_s,
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
        run_sql(self.conn, __file__, "upsert_meter_event", identifier=row["identifier"],
                export=batch.export, period=batch.period, version=batch.version,
                user_id=row["user_id"], stripe_customer_id=row["stripe_customer_id"],
                value=row["value"], event_timestamp=row["timestamp"], status=status,
                detail=detail, updated_at=datetime.now(UTC))

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
        policy = replace(retry.STRIPE_METER, attempts=self.max_attempts,
                         first_delay_s=self.backoff_s)
        retrying = retry.retrying(policy, retry_if=_retryable, sleep=self.sleep)
        try:
            return retrying(self._create, params)
        except stripe.AuthenticationError:
            raise DeliveryFailed("Stripe rejected STRIPE_SECRET_KEY (authentication)") from None
        except stripe.StripeError as exc:
            if not _retryable(exc):
                raise
            raise DeliveryFailed(f"meter event {row['identifier']}: {_failure(exc)} after "
                                 f"{self.max_attempts} attempts") from None

    def _create(self, params: dict) -> tuple[str, str | None]:
        """One request: the event's outcome, or the SDK's error (retried or not by policy)."""
        self._throttle()
        self.requests_sent += 1
        try:
            self.client.v1.billing.meter_events.create(params=params)
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_already_exists":
                return "delivered", "identifier already received by Stripe"
            return "rejected", f"{exc.code or 'invalid_request'}"
        return "delivered", None

    def deliver(self, batch: Batch) -> str:
        done = dict(run_sql(self.conn, __file__, "settled_meter_events", export=batch.export,
                            period=batch.period, version=batch.version).fetchall())
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
    try:
        client = make_client(key, env.stripe_api_base)
    except StripeAuthFailed as exc:  # a malformed key: one line, the key never in it
        raise DeliveryFailed(str(exc)) from None
    sink = StripeMeterSink(client, conn, export.event_name,
                           max_requests_per_second=export.max_requests_per_second)
    return SinkSetup(sink, diff=build_diff(settings.tz, clock.now))


__all__ = ["StripeMeterSink", "build_diff", "identifier", "setup"]
