SELECT min(day), max(day) FROM usage_daily_by_model
