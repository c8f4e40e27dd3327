INSERT INTO balances (user_id, unit, balance, entries, updated_at)
VALUES ($user_id, $unit, $balance, $entries, $updated_at)
ON CONFLICT (user_id, unit) DO UPDATE
SET balance = balances.balance + excluded.balance,
    entries = balances.entries + excluded.entries,
    updated_at = excluded.updated_at
