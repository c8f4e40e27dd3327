-- Credits per verdict: how much wallet credit each verdict concerns (for ok: the backed
-- credits; for the rest: the credits at stake).
SELECT verdict, count(*) FILTER (WHERE row_kind = 'topup') AS topups,
       count(*) FILTER (WHERE row_kind = 'stripe_payment') AS payments,
       sum(credits_at_stake)::BIGINT AS credits
FROM reconciliation_report GROUP BY verdict ORDER BY credits DESC, verdict
