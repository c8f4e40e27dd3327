SELECT topup_id, user_id, credits, status, created_at FROM downcity_topups
