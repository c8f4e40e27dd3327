SELECT reason, coalesce(topup_id, '') AS topup_id, coalesce(user_id, '') AS user_id,
       coalesce(detail, '') AS detail, strftime(first_seen_at, '%Y-%m-%d %H:%M') AS since
FROM reconciliation_exceptions ORDER BY first_seen_at, reason, topup_id
