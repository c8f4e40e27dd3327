-- The same totals from a daily summary table with success/error columns.
SELECT count(*), coalesce(sum(calls), 0), coalesce(sum(error_calls), 0),
       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)
FROM {{table}}
WHERE day IN (SELECT unnest($days::DATE[]))
