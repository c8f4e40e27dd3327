SELECT city_id || ' / ' || coalesce(user_id, $anonymous) AS "user",
       city_id AS city, coalesce(user_id, $anonymous) AS user_id,
       sum(calls)::BIGINT AS calls,
       sum(input_tokens + output_tokens)::BIGINT AS tokens,
       sum(cost_credits)::BIGINT AS cost_credits
FROM usage_daily_by_user WHERE day BETWEEN $first AND $last
GROUP BY ALL ORDER BY calls DESC, "user" LIMIT $top_n
