-- A period's usage at the grain a hook asks for: the grain columns are the event columns
-- named in $grain (in the files' column order; the caller puts them in its own order), so the
-- statement stays the same for every grain. With $record_errors false only successes count.
SELECT COLUMNS(lambda c: list_contains($grain, c)),
       count(*)::BIGINT                                        AS calls,
       count(*) FILTER (WHERE status = 'success')::BIGINT      AS success_calls,
       count(*) FILTER (WHERE status = 'error')::BIGINT        AS error_calls,
       coalesce(sum(input_tokens), 0)::BIGINT                  AS input_tokens,
       coalesce(sum(output_tokens), 0)::BIGINT                 AS output_tokens,
       coalesce(sum(cached_input_tokens), 0)::BIGINT           AS cached_input_tokens,
       coalesce(sum(reasoning_tokens), 0)::BIGINT              AS reasoning_tokens,
       coalesce(sum(cost_credits), 0)::BIGINT                  AS cost_credits
FROM {{events}}
WHERE day >= $start AND day < $end AND ($record_errors OR status = 'success')
GROUP BY ALL
