DELETE FROM usage_index_plans WHERE plan_id = $plan_id
