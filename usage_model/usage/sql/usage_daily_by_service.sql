INSERT INTO usage_daily_by_service
SELECT day, city_id, service, status, count(*), sum(input_tokens), sum(output_tokens)
FROM {{events}}
GROUP BY day, city_id, service, status
