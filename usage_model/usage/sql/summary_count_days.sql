SELECT count(*) FROM {{table}} WHERE day IN (SELECT unnest($days::DATE[]))
