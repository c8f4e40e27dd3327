"""The one place the code asks what time it is.

Every rule that depends on the current time (the stale-pending flag, the future-event skew,
the Stripe sync's retention window, the webhook's signature tolerance, the sample data's
"ending yesterday") calls `now()`. Setting `CITY_USAGE_NOW` to an ISO-8601 instant with an
offset (`2026-11-24T12:00:00Z`) freezes it, for this process and every process it starts
(CLI commands, Dagster runs): tests and replays do not depend on the real date.
Audit stamps (when a row was written) may use the real time; they decide nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from usage_model import config

ENV_VAR = "CITY_USAGE_NOW"


class BadClock(ValueError):
    """CITY_USAGE_NOW is set but is not an instant (one line)."""


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant with an offset or `Z`, as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadClock(f"{ENV_VAR}={text!r} is not an ISO-8601 instant") from None
    if moment.tzinfo is None:
        raise BadClock(f"{ENV_VAR}={text!r} has no UTC offset (add Z or +00:00)")
    return moment.astimezone(UTC)


def now() -> datetime:
    """The current instant (UTC, timezone-aware); frozen when CITY_USAGE_NOW is set."""
    pinned = (config.raw(ENV_VAR) or "").strip()
    return parse_instant(pinned) if pinned else datetime.now(UTC)


def today() -> date:
    """Today's date in UTC, by `now()`."""
    return now().date()


@contextmanager
def pinned(moment: datetime) -> Iterator[datetime]:
    """Freeze `now()` at `moment` inside the block (also for subprocesses started in it)."""
    if moment.tzinfo is None:
        raise BadClock("a pinned clock needs a timezone-aware datetime")
    with config.environment_set(ENV_VAR, moment.astimezone(UTC).isoformat()):
        yield moment.astimezone(UTC)
