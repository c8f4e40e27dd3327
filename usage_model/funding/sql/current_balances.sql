SELECT user_id, unit, balance FROM balances
WHERE user_id IN (SELECT unnest($users::VARCHAR[]))
