"""The Stripe API through the official SDK: a pinned API version, retries with backoff.

Every failure is one line that names the API base and never the key:
- a malformed key (whitespace, or not `sk_...` / `rk_...`) is refused before any call;
- Stripe rejecting the key (401) or a permission (403) stops at once;
- a refused connection, a host name that does not resolve or a timeout is tried
  `connect_attempts` times (2: a blip passes, a wrong STRIPE_API_BASE fails in a second);
- rate limits (429) and 5xx are retried with jittered backoff up to `attempts` times.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import stripe

# Pinned: objects are read with this API version whatever the account's default is.
STRIPE_API_VERSION = "2026-10-28.endive"
DEFAULT_API_BASE = "https://api.stripe.com"
_KEY_CHARS = re.compile(r"^[A-Za-z0-9_]+$")
T = TypeVar("T")


class StripeAuthFailed(RuntimeError):
    """The key is malformed or Stripe rejected it (one line; never contains the key)."""


class StripeUnavailable(RuntimeError):
    """Stripe could not be reached, or kept failing (rate limits or 5xx) after every retry."""


def check_key(secret_key: str, api_base: str = DEFAULT_API_BASE) -> None:
    """Refuse a key Stripe would reject anyway, before calling (the message omits the key)."""
    problem = None
    if secret_key != secret_key.strip() or any(c.isspace() for c in secret_key):
        problem = "contains whitespace (a stray space or newline when it was pasted?)"
    elif not secret_key.startswith(("sk_", "rk_")):
        problem = "does not start with sk_ or rk_ (a secret or restricted key is needed)"
    elif not _KEY_CHARS.match(secret_key):
        problem = "has characters a Stripe key never has"
    if problem:
        raise StripeAuthFailed(f"STRIPE_SECRET_KEY {problem}; Stripe at {api_base} was not "
                               "called")


def make_client(secret_key: str, api_base: str | None = None) -> stripe.StripeClient:
    base = api_base.rstrip("/") if api_base else DEFAULT_API_BASE
    check_key(secret_key, base)
    return stripe.StripeClient(secret_key, stripe_version=STRIPE_API_VERSION,
                               base_addresses={"api": base}, max_network_retries=0)


def api_base_of(client: stripe.StripeClient) -> str:
    """The API base a client calls (the SDK keeps it on its requestor)."""
    bases = getattr(getattr(client, "_requestor", None), "base_addresses", None) or {}
    return bases.get("api") or DEFAULT_API_BASE


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
    """Calls Stripe: rate limits and 5xx retried with jittered backoff, connection failures
    retried briefly, key problems never; every final failure is one line naming `base_url`."""

    attempts: int = 6
    connect_attempts: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    retries: int = 0
    base_url: str = DEFAULT_API_BASE

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn(*args, **kwargs)
            except stripe.StripeError as exc:
                limit = self._give_up_after(exc)
                if attempt >= limit:
                    raise self._final(exc, attempt) from None
            self.retries += 1
            delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
            self.sleep(delay * (0.5 + random.random() / 2))

    def _give_up_after(self, exc: stripe.StripeError) -> int:
        if isinstance(exc, stripe.APIConnectionError):
            return self.connect_attempts
        return self.attempts if _retryable(exc) else 1

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
