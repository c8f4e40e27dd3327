-- The window's events grouped once at the finest grain the model, city and user summaries
-- share. Sums and counts add up exactly, and the set of users (or cities) in a group is the
-- same in the rollup as in the events, so exact distinct counts come from it too; only the
-- latency quantiles need the events again. One pass over the events instead of three.
CREATE OR REPLACE TEMP TABLE {{rollup}} AS
SELECT day, model_id, city_id, user_id,
       count(*) AS calls,
       count(*) FILTER (WHERE status = 'success') AS success_calls,
       count(*) FILTER (WHERE status = 'error') AS error_calls,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(cached_input_tokens) AS cached_input_tokens, sum(reasoning_tokens) AS reasoning_tokens,
       sum(cost_credits) AS cost_credits
FROM {{events}}
GROUP BY day, model_id, city_id, user_id
