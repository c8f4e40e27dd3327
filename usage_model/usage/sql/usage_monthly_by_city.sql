INSERT INTO usage_monthly_by_city
SELECT $period, city_id,
       count(*), count(*) FILTER (WHERE status = 'success'), count(*) FILTER (WHERE status = 'error'),
       sum(input_tokens), sum(output_tokens), coalesce(sum(cost_credits), 0),
       count(DISTINCT user_id)
FROM {{events}}
GROUP BY city_id
