-- Canonical rows of one landed file, each with at most one rejection reason (docs/event-model.md rule 5,
-- after bad_encoding: text that is not UTF-8 cannot be checked reliably).
-- Input: the registered Arrow table `typed_rows` (columns already cast by normalize.prepare).
-- Placeholders filled by normalize.py: {occurred_at_expr}, {occurred_at_missing}, {latency_expr},
-- {error_expr}.
WITH src AS (
    SELECT
        __source_row AS source_row,
        event_id, city_id, user_id, service, model_id, provider, status,
        {error_expr} AS error, metadata_json,
        input_tokens AS raw_input_tokens,
        output_tokens AS raw_output_tokens,
        cached_input_tokens AS raw_cached_input_tokens,
        reasoning_tokens AS raw_reasoning_tokens,
        cost_credits,
        {latency_expr} AS latency_ms,
        {occurred_at_missing} AS time_missing,
        CAST(occurred_at AS VARCHAR) AS time_text,
        {occurred_at_expr} AS occurred_at,
        __bad_encoding AS bad_encoding
    FROM typed_rows
),
checked AS (
    SELECT
        *,
        CASE
            WHEN bad_encoding IS NOT NULL THEN 'bad_encoding'
            WHEN event_id IS NULL OR event_id = '' THEN 'missing_event_id'
            WHEN time_missing THEN 'missing_occurred_at'
            WHEN occurred_at IS NULL THEN 'bad_timestamp'
            WHEN city_id IS NULL OR city_id = '' THEN 'missing_city_id'
            WHEN status IS NULL OR status NOT IN ('success', 'error') THEN 'bad_status'
            WHEN raw_input_tokens < 0 OR raw_output_tokens < 0 OR raw_cached_input_tokens < 0
                OR raw_reasoning_tokens < 0 OR latency_ms < 0 THEN 'negative_value'
            WHEN epoch(occurred_at) > $future_limit THEN 'future_event'
        END AS reason
    FROM src
)
SELECT
    event_id,
    occurred_at,
    CAST(timezone($tz, occurred_at) AS DATE) AS day,
    city_id, user_id, service, model_id, provider, status, error,
    coalesce(raw_input_tokens, 0) AS input_tokens,
    coalesce(raw_output_tokens, 0) AS output_tokens,
    coalesce(raw_cached_input_tokens, 0) AS cached_input_tokens,
    coalesce(raw_reasoning_tokens, 0) AS reasoning_tokens,
    latency_ms,
    cost_credits,
    metadata_json,
    $source_file AS source_file,
    source_row,
    -- The id's 64-bit hash, computed once here and carried by the scanned rows, the index and
    -- the build: MD5 (RFC 1321) low 64 bits, stable across DuckDB versions and machines, so
    -- it also names the id's index bucket (id_hash % buckets, see id_index.py). The same value
    -- as md5_number_lower(event_id), taken from md5_number's high half: about 4x cheaper in
    -- DuckDB 2.0.
    (md5_number(event_id) >> 64)::UBIGINT AS id_hash,
    reason,
    CASE WHEN reason IS NOT NULL THEN
        format('{} row {}{}: ', $source_file, source_row,
               CASE WHEN event_id IS NOT NULL AND event_id <> ''
                    THEN format(' (event_id {})', left(event_id, 80)) ELSE '' END)
        || CASE reason
            WHEN 'bad_encoding' THEN format('{} holds text that is not valid UTF-8', bad_encoding)
            WHEN 'missing_event_id' THEN 'event_id is missing'
            WHEN 'missing_occurred_at' THEN format('{} is missing', $time_column)
            WHEN 'bad_timestamp' THEN format('{} {} is not an ISO-8601 timestamp',
                                             $time_column, left(time_text, 64))
            WHEN 'missing_city_id' THEN 'city_id is missing'
            WHEN 'bad_status' THEN format('status {} is not success or error',
                                          coalesce('''' || left(status, 64) || '''', 'null'))
            WHEN 'negative_value' THEN CASE
                WHEN raw_input_tokens < 0 THEN format('input_tokens is {}, negative', raw_input_tokens)
                WHEN raw_output_tokens < 0 THEN format('output_tokens is {}, negative', raw_output_tokens)
                WHEN raw_cached_input_tokens < 0
                    THEN format('cached_input_tokens is {}, negative', raw_cached_input_tokens)
                WHEN raw_reasoning_tokens < 0
                    THEN format('reasoning_tokens is {}, negative', raw_reasoning_tokens)
                ELSE format('latency_ms is {}, negative', latency_ms) END
            WHEN 'future_event' THEN format('occurred_at {} is beyond the allowed clock skew',
                                            strftime(occurred_at, '%Y-%m-%dT%H:%M:%SZ'))
        END
    END AS detail
FROM checked
