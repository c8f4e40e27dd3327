SELECT city_id AS city, sum(calls)::BIGINT AS calls,
       sum(error_calls)::BIGINT AS error_calls,
       sum(input_tokens + output_tokens)::BIGINT AS tokens,
       sum(cost_credits)::BIGINT AS cost_credits
FROM usage_daily_by_city WHERE day BETWEEN $first AND $last
GROUP BY ALL ORDER BY calls DESC, city LIMIT $top_n
