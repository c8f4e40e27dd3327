INSERT INTO usage_daily_by_user BY NAME
SELECT * EXCLUDE (grain, model_id, distinct_users, distinct_cities, p50_latency_ms, p95_latency_ms)
FROM {{keyed}} WHERE grain = 'user'
