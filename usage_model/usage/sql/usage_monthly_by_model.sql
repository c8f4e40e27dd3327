INSERT INTO usage_monthly_by_model
SELECT $period, model_id,
       count(*), count(*) FILTER (WHERE status = 'success'), count(*) FILTER (WHERE status = 'error'),
       sum(input_tokens), sum(output_tokens), coalesce(sum(cost_credits), 0),
       count(DISTINCT user_id), count(DISTINCT city_id)
FROM {{events}}
GROUP BY model_id
