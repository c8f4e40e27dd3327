SELECT strftime(period, '%Y-%m-%d') AS period, coalesce(city_id, '(none)') AS city,
       hook, count(*) FILTER (WHERE amount_credits IS NOT NULL) AS priced,
       count(*) FILTER (WHERE amount_credits IS NULL) AS unpriced,
       coalesce(sum(amount_credits), 0)::BIGINT AS credits
FROM charges WHERE period BETWEEN date_trunc('month', $first::DATE) AND $last
GROUP BY ALL ORDER BY period, credits DESC, city
