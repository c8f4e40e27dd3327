SELECT ref, user_id, amount_credits, description FROM charges
WHERE period = $period AND amount_credits IS NOT NULL AND user_id IS NOT NULL
