-- What the event-quality check measures over a window's curated events (the {{events}} view).
SELECT count(*), count(*) - count(DISTINCT event_id),
       count(*) FILTER (WHERE status = 'error'),
       count(*) FILTER (WHERE least(input_tokens, output_tokens, cached_input_tokens,
                                    reasoning_tokens) < 0 OR latency_ms < 0),
       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)
FROM {{events}}
