-- A daily summary table (the caller checks the name is one) for one period's days.
SELECT * FROM {{table}} WHERE day >= $start AND day < $end ORDER BY ALL
