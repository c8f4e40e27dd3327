SELECT coalesce(sum(calls), 0) FROM {{table}} WHERE period IN (SELECT unnest($periods::DATE[]))
