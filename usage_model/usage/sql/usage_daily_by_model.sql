INSERT INTO usage_daily_by_model
SELECT r.day, r.model_id,
       r.calls, r.success_calls, r.error_calls,
       r.input_tokens, r.output_tokens, r.cached_input_tokens, r.reasoning_tokens,
       r.cost_credits, r.distinct_users, r.distinct_cities,
       q.latency_quantiles[1], q.latency_quantiles[2]
FROM (
    SELECT day, model_id,
           sum(calls) AS calls, sum(success_calls) AS success_calls,
           sum(error_calls) AS error_calls,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           sum(cached_input_tokens) AS cached_input_tokens,
           sum(reasoning_tokens) AS reasoning_tokens,
           coalesce(sum(cost_credits), 0) AS cost_credits,
           count(DISTINCT user_id) AS distinct_users, count(DISTINCT city_id) AS distinct_cities
    FROM {{rollup}}
    GROUP BY day, model_id
) r
JOIN (
    SELECT day, model_id,
           -- One state for both quantiles: it holds every latency of the group.
           quantile_cont(latency_ms, [0.5, 0.95]) AS latency_quantiles
    FROM {{events}}
    GROUP BY day, model_id
) q ON q.day = r.day AND q.model_id IS NOT DISTINCT FROM r.model_id
