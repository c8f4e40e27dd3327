-- Index update plans in flight: their folds' segments and staged rows are not orphans.
SELECT plan_id FROM usage_index_plans
