SELECT period, user_id, city_id, amount_credits, description, ref, reason
FROM charges WHERE period = $start ORDER BY ref
