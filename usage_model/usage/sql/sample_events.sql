-- A realistic day of service calls, deterministic in ($seed, $day): hash() is the random source,
-- so any scale generates quickly and identically.
WITH base AS (
    SELECT i, hash(i, $seed, $day) AS h1, hash(i, $seed, $day, 'b') AS h2,
           hash(i, $seed, $day, 'c') AS h3
    FROM range($n) t(i)
),
picked AS (
    SELECT i, h1, h2, h3,
           (h1 % $users)::BIGINT AS user_no,
           (h2 % 1000)::BIGINT AS service_roll,
           (h3 % 12)::BIGINT AS model_no,
           ((h1 >> 20) % 1000)::BIGINT AS status_roll,
           ((h2 >> 20) % 86400000)::BIGINT AS ms_of_day
    FROM base
)
SELECT
    format('evt-{}-{}-{}', $seed, strftime($day::DATE, '%Y%m%d'), i) AS event_id,
    ($day::DATE::TIMESTAMP + to_milliseconds(ms_of_day::BIGINT)) AT TIME ZONE 'UTC' AS occurred_at,
    'city-' || ['harbor', 'mesa', 'lumen', 'fjord', 'quarry', 'orchard'][1 + (user_no % 6)] AS city_id,
    CASE WHEN (h3 >> 30) % 100 < 5 THEN NULL ELSE format('u-{:04d}', user_no) END AS user_id,
    CASE WHEN service_roll < 700 THEN 'chat' WHEN service_roll < 900 THEN 'model' ELSE 'tool' END
        AS service,
    ['gpt-5.1', 'gpt-5.1-mini', 'claude-sonnet-5', 'claude-haiku-5', 'gemini-3-pro',
     'gemini-3-flash', 'llama-5-70b', 'mistral-large-3', 'qwen-4-max', 'deepseek-v4',
     'command-r-next', 'grok-5'][1 + model_no] AS model_id,
    ['openai', 'openai', 'anthropic', 'anthropic', 'google', 'google', 'meta', 'mistral',
     'alibaba', 'deepseek', 'cohere', 'xai'][1 + model_no] AS provider,
    CASE WHEN status_roll < 40 THEN 'error' ELSE 'success' END AS status,
    CASE WHEN status_roll < 20 THEN 'rate_limited' WHEN status_roll < 40 THEN 'upstream_timeout'
    END AS error,
    (50 + (h1 >> 40) % 4000)::BIGINT AS input_tokens,
    CASE WHEN status_roll < 40 THEN 0 ELSE (10 + (h2 >> 40) % 1500) END::BIGINT AS output_tokens,
    ((h3 >> 40) % 500)::BIGINT AS cached_input_tokens,
    CASE WHEN model_no IN (0, 2, 4) THEN (h3 >> 10) % 800 ELSE 0 END::BIGINT AS reasoning_tokens,
    (80 + (h2 >> 44) % 6000)::DOUBLE AS latency_ms,
    ((50 + (h1 >> 40) % 4000) * (1 + model_no) + (10 + (h2 >> 40) % 1500) * (3 + model_no))::BIGINT
        AS cost_credits,
    CASE WHEN service_roll >= 900 THEN '{"tool":"search"}' END AS metadata_json
FROM picked
