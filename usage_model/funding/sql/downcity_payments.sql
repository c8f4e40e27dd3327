SELECT payment_id, topup_id, status, credits, currency FROM downcity_payments
ORDER BY coalesce(updated_at, created_at) NULLS FIRST, payment_id
