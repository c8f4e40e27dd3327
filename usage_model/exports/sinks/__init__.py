"""Sinks deliver one batch version. `deliver` returns a short note for the ledger or raises
`DeliveryFailed` (one line, never a secret); the runner keeps the version pending then."""

from __future__ import annotations

from typing import Protocol

from usage_model.exports.batch import Batch


class DeliveryFailed(RuntimeError):
    """The batch was not (known to be) delivered; the version stays pending for a rerun."""


class Sink(Protocol):
    def deliver(self, batch: Batch) -> str: ...
