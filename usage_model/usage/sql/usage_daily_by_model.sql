INSERT INTO usage_daily_by_model BY NAME
SELECT * EXCLUDE (grain, city_id, user_id) FROM {{keyed}} WHERE grain = 'model'
