DELETE FROM usage_day_loads WHERE day IN (SELECT unnest($days::DATE[]))
