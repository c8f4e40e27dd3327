INSERT INTO usage_daily_by_city BY NAME
SELECT * EXCLUDE (grain, model_id, user_id, distinct_cities) FROM {{keyed}} WHERE grain = 'city'
