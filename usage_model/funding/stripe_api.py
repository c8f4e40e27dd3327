"""Stripe API reads through the one client factory (usage_model/stripe_client.py), retried
under the `STRIPE_API` policy of usage_model/retry.py.

Every failure is one line that names the API base and never the key:
- a malformed key (whitespace, or not `sk_...` / `rk_...`) is refused before any call;
- Stripe rejecting the key (401) or a permission (403) stops at once;
- a refused connection, a host name that does not resolve or a timeout is tried
  `connect_attempts` times (2: a blip passes, a wrong STRIPE_API_BASE fails in a second);
- rate limits (429) and 5xx are retried with jittered backoff up to `attempts` times.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import stripe

from usage_model import retry
from usage_model.stripe_client import DEFAULT_API_BASE, StripeAuthFailed

T = TypeVar("T")


class StripeUnavailable(RuntimeError):
    """Stripe could not be reached, or kept failing (rate limits or 5xx) after every retry."""


def _connection_problem(exc: stripe.APIConnectionError) -> str:
    """Why the connection failed, in a few words (the SDK's text holds the library's chain)."""
    text = f"{exc.user_message or exc} {exc.__cause__!r}"
    lowered = text.lower()
    if any(s in lowered for s in ("nameresolution", "name or service not known",
                                  "failed to resolve", "nodename nor servname",
                                  "temporary failure in name resolution", "getaddrinfo")):
        return "host name does not resolve"
    if "connection refused" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out"
    if "ssl" in lowered or "certificate" in lowered:
        return "TLS handshake failed"
    return "network error"


def _retryable(exc: stripe.StripeError) -> bool:
    if isinstance(exc, stripe.RateLimitError):
        return True
    status = getattr(exc, "http_status", None)
    return isinstance(exc, stripe.APIError) and (status is None or status >= 500)


@dataclass
class Retrying:
    """Calls Stripe under the `STRIPE_API` retry policy: rate limits and 5xx retried with
    jittered backoff, connection failures retried briefly, key problems never; every final
    failure is one line naming `base_url`."""

    attempts: int = retry.STRIPE_API.attempts
    connect_attempts: int = retry.STRIPE_CONNECT_ATTEMPTS
    base_delay: float = retry.STRIPE_API.first_delay_s
    max_delay: float = retry.STRIPE_API.max_delay_s
    sleep: Callable[[float], None] = time.sleep
    retries: int = 0
    base_url: str = DEFAULT_API_BASE

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        policy = replace(retry.STRIPE_API, attempts=self.attempts, first_delay_s=self.base_delay,
                         max_delay_s=self.max_delay)
        retrying = retry.retrying(
            policy, retry_if=lambda exc: isinstance(exc, stripe.StripeError),
            attempts_for=self._give_up_after, sleep=self.sleep, on_retry=self._count_retry,
        )
        try:
            return retrying(fn, *args, **kwargs)
        except stripe.StripeError as exc:
            raise self._final(exc, retrying.statistics["attempt_number"]) from None

    def _count_retry(self, _attempt: int) -> None:
        self.retries += 1

    def _give_up_after(self, exc: BaseException) -> int:
        if isinstance(exc, stripe.APIConnectionError):
            return self.connect_attempts
        return self.attempts if isinstance(exc, stripe.StripeError) and _retryable(exc) else 1

    def _final(self, exc: stripe.StripeError, attempts: int) -> Exception:
        base = self.base_url
        if isinstance(exc, stripe.AuthenticationError):
            return StripeAuthFailed(f"Stripe at {base} rejected STRIPE_SECRET_KEY "
                                    "(authentication error); check the key")
        if isinstance(exc, stripe.PermissionError):
            return StripeAuthFailed(f"Stripe at {base} refused the request: the key lacks a "
                                    "permission")
        if isinstance(exc, stripe.APIConnectionError):
            return StripeUnavailable(f"cannot connect to Stripe at {base} "
                                     f"({_connection_problem(exc)}; tried {attempts} times)")
        if _retryable(exc):
            return StripeUnavailable(f"Stripe at {base} still failing after {attempts} "
                                     f"attempts (HTTP {getattr(exc, 'http_status', None)})")
        return exc


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
