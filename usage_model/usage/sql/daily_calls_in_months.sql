SELECT coalesce(sum(calls), 0) FROM {{table}}
WHERE date_trunc('month', day) IN (SELECT unnest($periods::DATE[]))
