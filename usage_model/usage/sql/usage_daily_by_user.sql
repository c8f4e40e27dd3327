INSERT INTO usage_daily_by_user
SELECT day, city_id, user_id,
       sum(calls), sum(success_calls), sum(error_calls),
       sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(reasoning_tokens),
       coalesce(sum(cost_credits), 0)
FROM {{rollup}}
GROUP BY day, city_id, user_id
