INSERT OR REPLACE INTO usage_index_plans VALUES ($plan_id, $at)
