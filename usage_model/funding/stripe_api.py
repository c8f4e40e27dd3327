"""The Stripe API through the official SDK: a pinned API version, retries with backoff."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import stripe

# Pinned: objects are read with this API version whatever the account's default is.
STRIPE_API_VERSION = "2026-10-28.endive"
T = TypeVar("T")


class StripeAuthFailed(RuntimeError):
    """Stripe rejected the key (one line; never contains the key)."""


class StripeUnavailable(RuntimeError):
    """Stripe kept failing (rate limits or 5xx) after every retry."""


def make_client(secret_key: str, api_base: str | None = None) -> stripe.StripeClient:
    bases = {"api": api_base.rstrip("/")} if api_base else None
    return stripe.StripeClient(secret_key, stripe_version=STRIPE_API_VERSION,
                               base_addresses=bases, max_network_retries=0)


def _retryable(exc: stripe.StripeError) -> bool:
    if isinstance(exc, stripe.RateLimitError | stripe.APIConnectionError):
        return True
    status = getattr(exc, "http_status", None)
    return isinstance(exc, stripe.APIError) and (status is None or status >= 500)


@dataclass
class Retrying:
    """Calls Stripe, retrying rate limits, connection errors and 5xx with jittered backoff."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    retries: int = 0

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return fn(*args, **kwargs)
            except stripe.AuthenticationError:
                raise StripeAuthFailed(
                    "Stripe rejected STRIPE_SECRET_KEY (authentication error); check the key"
                ) from None
            except stripe.PermissionError:
                raise StripeAuthFailed(
                    "Stripe refused the request: the key lacks a permission") from None
            except stripe.StripeError as exc:
                if not _retryable(exc) or attempt == self.attempts:
                    if _retryable(exc):
                        raise StripeUnavailable(
                            f"Stripe still failing after {self.attempts} attempts "
                            f"(HTTP {getattr(exc, 'http_status', None)})") from None
                    raise
                self.retries += 1
                delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
                self.sleep(delay * (0.5 + random.random() / 2))
        raise AssertionError("unreachable")


def list_all(call: Retrying, lister: Callable[[dict], Any], params: dict) -> Iterator[dict]:
    """Every object of a list endpoint (newest first), page by page, each page retried."""
    params = dict(params)
    while True:
        page = call(lister, params)
        data = [obj.to_dict() for obj in page.data]
        yield from data
        if not page.has_more or not data:
            return
        params["starting_after"] = data[-1]["id"]
