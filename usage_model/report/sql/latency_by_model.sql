-- Exact p50/p95 latency per model over the range, from the events themselves (quantiles do
-- not add up across days).
SELECT coalesce(model_id, $unknown_model) AS model,
       count(latency_ms) AS timed_calls,
       round(quantile_cont(latency_ms, 0.5), 1) AS p50_ms,
       round(quantile_cont(latency_ms, 0.95), 1) AS p95_ms
FROM {{events}} WHERE latency_ms IS NOT NULL
GROUP BY ALL ORDER BY p95_ms DESC, model
