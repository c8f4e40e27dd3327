SELECT user_id, unit, balance FROM balances
ORDER BY balance DESC, user_id LIMIT $top_wallets
