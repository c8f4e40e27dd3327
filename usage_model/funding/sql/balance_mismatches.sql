-- Rows where `balances` differs from the ledger sum (an empty result is the invariant).
WITH ledger AS (
    SELECT user_id, unit, sum(amount)::BIGINT AS total, count(*) AS n
    FROM balance_ledger GROUP BY user_id, unit
)
SELECT coalesce(l.user_id, b.user_id) AS user_id, coalesce(l.unit, b.unit) AS unit,
       l.total AS ledger_sum, b.balance AS balance
FROM ledger l FULL OUTER JOIN balances b ON l.user_id = b.user_id AND l.unit = b.unit
WHERE l.total IS DISTINCT FROM b.balance OR l.n IS DISTINCT FROM b.entries
ORDER BY 1, 2
