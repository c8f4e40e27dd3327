-- The hand-written DuckDB baseline: the three contract summaries over the curated files,
-- each into its own in-memory table (what a user's script would do).
CREATE TABLE by_model AS
SELECT day, model_id,
       count(*) AS calls, count(*) FILTER (WHERE status = 'success') AS success_calls,
       count(*) FILTER (WHERE status = 'error') AS error_calls,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       count(DISTINCT user_id) AS distinct_users, count(DISTINCT city_id) AS distinct_cities,
       quantile_cont(latency_ms, 0.5) AS p50_latency_ms,
       quantile_cont(latency_ms, 0.95) AS p95_latency_ms
FROM ev GROUP BY day, model_id;
CREATE TABLE by_city AS
SELECT day, city_id,
       count(*) AS calls, count(*) FILTER (WHERE status = 'success') AS success_calls,
       count(*) FILTER (WHERE status = 'error') AS error_calls,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       count(DISTINCT user_id) AS distinct_users,
       quantile_cont(latency_ms, 0.5) AS p50_latency_ms,
       quantile_cont(latency_ms, 0.95) AS p95_latency_ms
FROM ev GROUP BY day, city_id;
CREATE TABLE by_user AS
SELECT day, city_id, user_id,
       count(*) AS calls, count(*) FILTER (WHERE status = 'success') AS success_calls,
       count(*) FILTER (WHERE status = 'error') AS error_calls,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens
FROM ev GROUP BY day, city_id, user_id;
