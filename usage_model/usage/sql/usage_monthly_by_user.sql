INSERT INTO usage_monthly_by_user
SELECT $period, city_id, user_id,
       count(*), count(*) FILTER (WHERE status = 'success'), count(*) FILTER (WHERE status = 'error'),
       sum(input_tokens), sum(output_tokens), coalesce(sum(cost_credits), 0)
FROM {{events}}
GROUP BY city_id, user_id
