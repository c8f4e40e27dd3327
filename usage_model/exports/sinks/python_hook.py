"""Python sink: `package.module:function(batch)`, the `syncUsageToBillingSystem(summary)`
hook point. The function gets a `Batch` (`.rows`, `.table`, `.version`, `.supersedes`,
`.idempotency_key`); it is called again with the same batch after a crash before the ledger
recorded its return, so it should dedupe on `batch.idempotency_key`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from usage_model.exports.batch import Batch
from usage_model.exports.sinks import DeliveryFailed


class PythonSink:
    def __init__(self, hook: Callable[[Batch], Any], ref: str) -> None:
        self.hook = hook
        self.ref = ref

    def deliver(self, batch: Batch) -> str:
        try:
            result = self.hook(batch)
        except Exception as exc:  # noqa: BLE001 - user code: one line
            text = " ".join(str(exc).split())[:200]
            raise DeliveryFailed(f"{self.ref}: {type(exc).__name__}: {text}") from None
        return f"{self.ref} returned {str(result)[:100]}" if result is not None else self.ref
