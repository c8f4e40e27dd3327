"""The one retry helper: named policies run by tenacity.

A policy says how many attempts a caller makes (the first one included) and how long it waits
between them: `first_delay_s`, doubling each time, capped at `max_delay_s`. With jitter each
wait is drawn from [½, 1] × that delay, so clients that failed together do not come back
together. What is retried is the caller's decision (`retry_if`, and optionally a per-error
attempt limit), because only the caller knows which failures can pass.

`sleep` and `monotonic` are injectable so tests run retries without waiting for real.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

T = TypeVar("T")


@dataclass(frozen=True)
class Policy:
    """How many attempts, and the exponential backoff between them."""

    name: str
    attempts: int | None  # None: no count, a deadline ends the attempts
    first_delay_s: float
    max_delay_s: float
    jitter: bool = True

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1-based), before any jitter."""
        return min(self.max_delay_s, self.first_delay_s * 2 ** (attempt - 1))


# Stripe API reads: rate limits (429) and 5xx pass with time; 6 attempts span about 15 s.
STRIPE_API = Policy("stripe_api", attempts=6, first_delay_s=0.5, max_delay_s=8.0)
# A refused connection or a name that does not resolve: one more try lets a blip pass, while a
# wrong STRIPE_API_BASE still fails within a second.
STRIPE_CONNECT_ATTEMPTS = 2
# Stripe meter events: 429, 5xx and connection errors, as the API reads but a longer cap.
STRIPE_METER = Policy("stripe_meter", attempts=6, first_delay_s=0.5, max_delay_s=30.0)
# Webhook sink: 5xx, 408, 429, time-outs and connection errors; attempts come from the config.
WEBHOOK = Policy("webhook", attempts=5, first_delay_s=0.5, max_delay_s=30.0)
# A writer waiting for the DuckDB file lock held by another process: no jitter, and the
# caller's deadline (not a count) ends the wait.
WAREHOUSE_LOCK = Policy("warehouse_lock", attempts=None, first_delay_s=0.05, max_delay_s=2.0,
                        jitter=False)


def retrying(
    policy: Policy,
    *,
    retry_if: Callable[[BaseException], bool],
    attempts_for: Callable[[BaseException], int] | None = None,
    deadline_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    on_retry: Callable[[int], None] | None = None,
) -> tenacity.Retrying:
    """A tenacity `Retrying` for `policy`: call it with a function (`r(fn, *args)`).

    Errors for which `retry_if` is false are raised at once; after the last attempt the last
    error is raised unchanged (`r.statistics["attempt_number"]` says how many were made).
    `attempts_for(error)` lowers the limit for some errors; `deadline_s` (seconds from now)
    stops before a wait that would end past it. `on_retry(attempt)` runs before each wait.
    """
    deadline = None if deadline_s is None else monotonic() + deadline_s

    def stop(state: tenacity.RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        limits = [n for n in (policy.attempts, attempts_for(error) if attempts_for and error
                              else None) if n is not None]
        if limits and state.attempt_number >= min(limits):
            return True
        return deadline is not None and monotonic() + policy.delay(state.attempt_number) > deadline

    def wait(state: tenacity.RetryCallState) -> float:
        delay = policy.delay(state.attempt_number)
        return delay * (0.5 + random.random() / 2) if policy.jitter else delay

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None:
            on_retry(state.attempt_number)

    return tenacity.Retrying(
        stop=stop, wait=wait, retry=tenacity.retry_if_exception(retry_if), sleep=sleep,
        before_sleep=before_sleep, reraise=True,
    )
