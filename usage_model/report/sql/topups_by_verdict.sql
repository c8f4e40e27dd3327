SELECT verdict, count(*) FILTER (WHERE row_kind = 'topup') AS topups,
       count(*) FILTER (WHERE row_kind = 'stripe_payment') AS payments,
       count(*) FILTER (WHERE stale_pending) AS stale_pending,
       coalesce(sum(credits_at_stake), 0)::BIGINT AS credits_at_stake
FROM reconciliation_report GROUP BY verdict ORDER BY credits_at_stake DESC, verdict
