-- The model, city and user daily tables share their measures at three grains of the rollup:
-- one GROUPING SETS pass spells them once, and one over the events gives the model and city
-- latency quantiles (the user table has none). `grain` names the set a row belongs to
-- ('model', 'city', 'user'); a NULL model_id is a real key, so it cannot tell them apart.
CREATE OR REPLACE TEMP TABLE {{keyed}} AS
WITH measures AS (
    SELECT CASE WHEN GROUPING(model_id) = 0 THEN 'model'
                WHEN GROUPING(user_id) = 0 THEN 'user' ELSE 'city' END AS grain,
           day, model_id, city_id, user_id,
           sum(calls) AS calls, sum(success_calls) AS success_calls,
           sum(error_calls) AS error_calls,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           sum(cached_input_tokens) AS cached_input_tokens,
           sum(reasoning_tokens) AS reasoning_tokens,
           coalesce(sum(cost_credits), 0) AS cost_credits,
           count(DISTINCT user_id) AS distinct_users, count(DISTINCT city_id) AS distinct_cities
    FROM {{rollup}}
    GROUP BY GROUPING SETS ((day, model_id), (day, city_id), (day, city_id, user_id))
), latency AS (
    SELECT CASE WHEN GROUPING(model_id) = 0 THEN 'model' ELSE 'city' END AS grain,
           day, model_id, city_id,
           -- One state for both quantiles: it holds every latency of the group.
           quantile_cont(latency_ms, [0.5, 0.95]) AS quantiles
    FROM {{events}}
    GROUP BY GROUPING SETS ((day, model_id), (day, city_id))
)
SELECT m.*, l.quantiles[1] AS p50_latency_ms, l.quantiles[2] AS p95_latency_ms
FROM measures m
LEFT JOIN latency l
  ON l.grain = m.grain AND l.day = m.day
 AND l.model_id IS NOT DISTINCT FROM m.model_id AND l.city_id IS NOT DISTINCT FROM m.city_id
