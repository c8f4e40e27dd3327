SELECT reason, topup_id, stripe_object_id, detail FROM reconciliation_exceptions
ORDER BY reason, stripe_object_id
