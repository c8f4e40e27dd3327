"""Webhook sink: POST one JSON batch per version.

Headers: `Idempotency-Key: <export>:<period>:<version>` and
`City-Usage-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`.
5xx, 408, 429, time-outs and connection errors are retried with exponential backoff up to
`max_attempts`; another 4xx is final. The body is the same bytes on every attempt and every
rerun, so a receiver that keys on Idempotency-Key applies a version once.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections.abc import Callable

import httpx

from usage_model import clock
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


class WebhookSink:
    def __init__(
        self,
        url: str,
        secret_env: str,
        *,
        timeout_s: float = 10.0,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
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
        last = ""
        with httpx.Client(timeout=self.timeout_s) as client:
            for attempt in range(1, self.max_attempts + 1):
                self.attempts_made += 1
                headers = {
                    "Content-Type": "application/json",
                    "Idempotency-Key": batch.idempotency_key,
                    SIGNATURE_HEADER: sign(secret, body, int(clock.now().timestamp())),
                }
                try:
                    response = client.post(self.url, content=body, headers=headers)
                except httpx.TimeoutException:
                    last = f"timed out after {self.timeout_s:g} s"
                except httpx.TransportError as exc:
                    last = f"connection failed ({type(exc).__name__})"
                else:
                    if response.is_success:
                        return f"HTTP {response.status_code} after {attempt} attempt(s)"
                    last = f"HTTP {response.status_code}"
                    if response.status_code < 500 and response.status_code not in RETRY_STATUSES:
                        raise DeliveryFailed(f"{self.url}: {last} (not retried)")
                if attempt < self.max_attempts:
                    delay = min(30.0, self.backoff_s * 2 ** (attempt - 1))
                    self.sleep(delay * (0.5 + random.random() / 2))
        raise DeliveryFailed(f"{self.url}: {last} after {self.max_attempts} attempt(s)")
