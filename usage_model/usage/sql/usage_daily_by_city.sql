INSERT INTO usage_daily_by_city
SELECT day, city_id,
       count(*), count(*) FILTER (WHERE status = 'success'), count(*) FILTER (WHERE status = 'error'),
       sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(reasoning_tokens),
       coalesce(sum(cost_credits), 0),
       count(DISTINCT user_id),
       quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95)
FROM summary_events
GROUP BY day, city_id
