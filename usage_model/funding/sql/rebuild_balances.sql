INSERT INTO balances (user_id, unit, balance, entries, updated_at)
SELECT user_id, unit, sum(amount)::BIGINT, count(*), $now FROM balance_ledger
GROUP BY user_id, unit
