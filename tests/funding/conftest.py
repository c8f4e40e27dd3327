"""Fixtures for funding tests: a fake Stripe over real HTTP, a real DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pytest

from tests.balance_landing import (  # noqa: F401 (the funding tests import them here)
    events_folder,
    write_topups,
)
from tests.stripe_fake import FakeStripe
from usage_model import clock
from usage_model.config import Settings
from usage_model.funding import downcity
from usage_model.funding.config import FundingConfig, key_livemode
from usage_model.funding.reconcile import build_report, reconcile
from usage_model.funding.stripe_api import Retrying
from usage_model.funding.sync import StripeSource, consume_landed, sync_events
from usage_model.stripe_client import make_client
from usage_model.warehouse import connect

CREDITS_PER_CENT = 10_000  # 1 USD = 1,000,000 credits (docs/funding.md)
# Funding tests run on a frozen clock (any instant works: fixtures are dated relative to it).
FUNDING_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NOW = FUNDING_NOW  # the reconciliation's "now" in tests


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Freeze `usage_model.clock.now()` (in-process and in started processes)."""
    monkeypatch.setenv(clock.ENV_VAR, FUNDING_NOW.isoformat())
    return FUNDING_NOW


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@dataclass
class Funding:
    """Drives the domain functions the assets call, against a real warehouse file."""

    settings: Settings
    fake: FakeStripe
    config: FundingConfig
    now: datetime = NOW

    def source(self) -> StripeSource:
        client = make_client(self.fake.api_key, self.fake.base_url)
        return StripeSource(client, Retrying(base_delay=0.001, sleep=lambda s: None))

    def conn(self) -> duckdb.DuckDBPyConnection:
        return connect(self.settings.warehouse)

    def run(self, *, pull: bool = True, landed: bool = False) -> dict:
        with connect(self.settings.warehouse) as conn:
            downcity.load(conn, self.settings.balance_landing, self.now)
            source = self.source()
            out = {}
            if pull:
                out["pull"] = sync_events(conn, source, self.config)
            if landed:
                out["landed"] = consume_landed(conn, self.settings.stripe_events_location(),
                                                 source)
            out["reconcile"] = reconcile(conn, self.config, key_livemode(self.fake.api_key),
                                         self.now)
            out["report"] = build_report(conn, self.config, self.now)
            return out

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with connect(self.settings.warehouse, read_only=True) as conn:
            return conn.execute(sql, params or []).fetchall()

    def ledger(self) -> list[tuple]:
        return self.query("SELECT ref, user_id, kind, amount FROM balance_ledger ORDER BY ref")

    def balance(self, user_id: str) -> int | None:
        rows = self.query("SELECT balance FROM balances WHERE user_id = ?", [user_id])
        return rows[0][0] if rows else None

    def state(self, topup_id: str) -> str | None:
        rows = self.query("SELECT state FROM topups WHERE topup_id = ?", [topup_id])
        return rows[0][0] if rows else None

    def exceptions(self) -> list[tuple]:
        return self.query("SELECT reason, topup_id, stripe_object_id FROM "
                          "reconciliation_exceptions ORDER BY reason, stripe_object_id")


@pytest.fixture
def funding(settings: Settings, fake_stripe: FakeStripe) -> Funding:
    return Funding(settings, fake_stripe, FundingConfig())
