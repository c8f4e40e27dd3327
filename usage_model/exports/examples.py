"""A worked example of the python sink: `syncUsageToBillingSystem(summary)`."""

from __future__ import annotations

import logging

from usage_model.exports.batch import Batch

log = logging.getLogger(__name__)


def sync_usage_to_billing_system(batch: Batch) -> int:
    """Log what a billing system would receive; return the number of rows handed over.

    A real hook posts `batch.rows` to the billing system and dedupes on
    `batch.idempotency_key` (it is called again for the same version after a crash).
    """
    log.info("billing sync %s: %d rows (supersedes %s)", batch.idempotency_key,
             batch.table.num_rows, batch.supersedes)
    return batch.table.num_rows
