SELECT strftime(day, '%Y-%m-%d') AS day, sum(calls)::BIGINT AS calls,
       sum(error_calls)::BIGINT AS error_calls,
       sum(error_calls) / sum(calls) AS error_rate
FROM usage_daily_by_model WHERE day BETWEEN $first AND $last GROUP BY day ORDER BY day
