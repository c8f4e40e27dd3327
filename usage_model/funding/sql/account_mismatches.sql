-- Users whose Downcity account credits differ from Downcity's own ledger sum. A user with
-- ledger entries and no account row counts as an account of 0 credits (and the reverse).
WITH ledger AS (
    SELECT user_id, sum(credits_delta)::BIGINT AS total FROM downcity_ledger GROUP BY user_id
)
SELECT coalesce(a.user_id, l.user_id) AS user_id, a.credits AS account_credits,
       l.total AS ledger_credits
FROM downcity_accounts a FULL OUTER JOIN ledger l ON a.user_id = l.user_id
WHERE coalesce(a.credits, 0) <> coalesce(l.total, 0)
ORDER BY 1
