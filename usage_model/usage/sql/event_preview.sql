SELECT event_id, occurred_at, city_id, user_id, model_id, status, input_tokens, output_tokens
FROM {{events}}
LIMIT 10
