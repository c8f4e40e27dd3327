SELECT topup_id, user_id, state, credited_credits, reversed_credits, created_at
FROM topups ORDER BY topup_id
