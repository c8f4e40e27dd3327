"""Funding settings (read from the environment by `usage_model.config.Environment.funding`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from usage_model.funding.currency import DEFAULT_CREDITS_PER_MINOR


@dataclass(frozen=True)
class FundingConfig:
    credits_per_minor: dict[str, int] = field(
        default_factory=lambda: dict(DEFAULT_CREDITS_PER_MINOR))
    lookback: timedelta = timedelta(minutes=5)
    stale_pending_after: timedelta = timedelta(hours=24)
    sync_start: int | None = None  # unix seconds; None = all history
    event_retention: timedelta = timedelta(days=30)  # how long Stripe keeps events
    page_size: int = 100


def parse_sync_start(text: str) -> int:
    """STRIPE_SYNC_START as unix seconds: digits, or an ISO date/instant (no offset = UTC)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("expected an ISO date or unix seconds") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def key_livemode(secret_key: str | None) -> bool | None:
    """True for live keys, False for test keys, None when unknown."""
    if not secret_key:
        return None
    if secret_key.startswith(("sk_live_", "rk_live_")):
        return True
    if secret_key.startswith(("sk_test_", "rk_test_")):
        return False
    return None
