SELECT strftime(day, '%Y-%m-%d') AS day, coalesce(model_id, $unknown_model) AS model,
       sum(calls)::BIGINT AS calls, sum(error_calls)::BIGINT AS error_calls,
       sum(input_tokens)::BIGINT AS input_tokens,
       sum(output_tokens)::BIGINT AS output_tokens,
       sum(input_tokens + output_tokens)::BIGINT AS tokens,
       sum(cost_credits)::BIGINT AS cost_credits
FROM usage_daily_by_model WHERE day BETWEEN $first AND $last GROUP BY ALL ORDER BY day, model
