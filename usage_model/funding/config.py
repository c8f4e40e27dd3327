"""Funding settings from the environment (secrets are never kept in logs or metadata)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from usage_model.funding.currency import DEFAULT_CREDITS_PER_MINOR, parse_rates


@dataclass(frozen=True)
class FundingConfig:
    credits_per_minor: dict[str, int] = field(
        default_factory=lambda: dict(DEFAULT_CREDITS_PER_MINOR))
    lookback: timedelta = timedelta(minutes=5)
    stale_pending_after: timedelta = timedelta(hours=24)
    sync_start: int | None = None  # unix seconds; None = all history
    event_retention: timedelta = timedelta(days=30)  # how long Stripe keeps events
    page_size: int = 100

    @classmethod
    def from_env(cls) -> FundingConfig:
        env = os.environ
        start = env.get("STRIPE_SYNC_START")
        return cls(
            credits_per_minor=parse_rates(env.get("CITY_USAGE_CREDITS_PER_MINOR_UNIT")),
            lookback=timedelta(seconds=int(env.get("STRIPE_SYNC_LOOKBACK_S") or 300)),
            stale_pending_after=timedelta(
                hours=float(env.get("CITY_USAGE_STALE_PENDING_HOURS") or 24)),
            sync_start=_parse_start(start) if start else None,
        )


def _parse_start(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"STRIPE_SYNC_START {text!r}: expected an ISO date or unix seconds") from None
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
