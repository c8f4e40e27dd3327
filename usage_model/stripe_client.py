"""The one Stripe client factory: the official SDK at a pinned API version, no SDK retries
(the callers retry under a named policy, see usage_model/retry.py), and a key checked before
any call. Funding reads and the meter-event export both build their client here.
"""

from __future__ import annotations

import re

import stripe

# Pinned: objects are read and written with this API version whatever the account's default.
STRIPE_API_VERSION = "2026-10-28.endive"
DEFAULT_API_BASE = "https://api.stripe.com"
_KEY_CHARS = re.compile(r"^[A-Za-z0-9_]+$")


class StripeAuthFailed(RuntimeError):
    """The key is malformed or Stripe rejected it (one line; never contains the key)."""


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
    """A client for `api_base` (default: Stripe itself) at the pinned API version."""
    base = api_base.rstrip("/") if api_base else DEFAULT_API_BASE
    check_key(secret_key, base)
    return stripe.StripeClient(secret_key, stripe_version=STRIPE_API_VERSION,
                               base_addresses={"api": base}, max_network_retries=0)


def api_base_of(client: stripe.StripeClient) -> str:
    """The API base a client calls (the SDK keeps it on its requestor)."""
    bases = getattr(getattr(client, "_requestor", None), "base_addresses", None) or {}
    return bases.get("api") or DEFAULT_API_BASE
