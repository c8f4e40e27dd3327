SELECT user_id, balance FROM balances WHERE unit = 'credits'
