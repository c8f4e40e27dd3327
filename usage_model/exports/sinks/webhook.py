"""Webhook sink: POST one JSON batch per version.

Headers: `Idempotency-Key: <export>:<period>:<version>` and
`City-Usage-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`.
5xx, 408, 429, time-outs and connection errors are retried under the `WEBHOOK` policy of
usage_model/retry.py (exponential backoff) up to `max_attempts`; another 4xx is final. The
body is the same bytes on every attempt and every rerun, so a receiver that keys on
Idempotency-Key applies a version once.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import replace

import httpx

from usage_model import clock, retry
from usage_model.config import named_secret
from usage_model.exports.batch import Batch
from usage_model.exports.sinks import DeliveryFailed

SIGNATURE_HEADER = "City-Usage-Signature"
RETRY_STATUSES = {408, 429}


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = 300,
           now: float | None = None) -> bool:
    """Receiver side: check the signature and that its time is within the tolerance."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else clock.now().timestamp()) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class _Retryable(Exception):
    """A failed attempt that another attempt may fix; its text is the reason, no secret."""


class WebhookSink:
    def __init__(
        self,
        url: str,
        secret_env: str,
        *,
        timeout_s: float = 10.0,
        max_attempts: int = retry.WEBHOOK.attempts,
        backoff_s: float = retry.WEBHOOK.first_delay_s,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.secret_env = secret_env
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.attempts_made = 0

    def _secret(self) -> str:
        secret = named_secret(self.secret_env)
        if secret is None:
            raise DeliveryFailed(f"environment variable {self.secret_env} (webhook secret) "
                                 "is not set")
        return secret.get_secret_value()

    def deliver(self, batch: Batch) -> str:
        secret = self._secret()
        body = batch.body()
        policy = replace(retry.WEBHOOK, attempts=self.max_attempts, first_delay_s=self.backoff_s)
        retrying = retry.retrying(policy, retry_if=lambda exc: isinstance(exc, _Retryable),
                                  sleep=self.sleep)
        before = self.attempts_made
        with httpx.Client(timeout=self.timeout_s) as client:
            try:
                status = retrying(self._post, client, batch, secret, body)
            except _Retryable as exc:
                raise DeliveryFailed(f"{self.url}: {exc} after {self.max_attempts} attempt(s)") \
                    from None
        return f"HTTP {status} after {self.attempts_made - before} attempt(s)"

    def _post(self, client: httpx.Client, batch: Batch, secret: str, body: bytes) -> int:
        """One attempt: the success status; a failure worth another attempt raises
        `_Retryable`, any other `DeliveryFailed`."""
        self.attempts_made += 1
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": batch.idempotency_key,
            SIGNATURE_HEADER: sign(secret, body, int(clock.now().timestamp())),
        }
        try:
            response = client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise _Retryable(f"timed out after {self.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__})") from None
        if response.is_success:
            return response.status_code
        if response.status_code < 500 and response.status_code not in RETRY_STATUSES:
            raise DeliveryFailed(f"{self.url}: HTTP {response.status_code} (not retried)")
        raise _Retryable(f"HTTP {response.status_code}")
