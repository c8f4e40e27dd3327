-- The same totals from the overview table, which keeps status as a key instead.
SELECT count(*), coalesce(sum(calls), 0), coalesce(sum(calls) FILTER (WHERE status = 'error'), 0),
       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)
FROM {{table}}
WHERE day IN (SELECT unnest($days::DATE[]))
