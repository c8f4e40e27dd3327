-- Totals straight from curated events: the reference the summary checks compare with.
SELECT count(*), count(*), count(*) FILTER (WHERE status = 'error'),
       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)
FROM {{events}}
