SELECT reason, stripe_object_id, first_seen_at FROM reconciliation_exceptions
