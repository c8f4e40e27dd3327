-- Identical or conflicting (docs/event-model.md rule 6), decided for the ids with more than
-- one copy only (`winners`): each of the window's copies of such an id is compared with its
-- winner by content hash. The hash is computed here, for these few rows alone, from the
-- scanned rows: the window's copies (build_rows) and the winners outside it
-- (elsewhere_winners). It is the MD5 (128 bits) of the normalized row as JSON. Not DuckDB's
-- hash(): its string hash collides on ids that differ by shifted digits ('...0301-122900'
-- and '...0401-122970'), which would call a conflict identical and drop a row.
CREATE OR REPLACE TEMP TABLE copy_outcomes AS
WITH candidates AS (
    SELECT *, true AS in_window FROM build_rows SEMI JOIN winners USING (event_id)
    UNION ALL BY NAME
    SELECT *, false AS in_window FROM elsewhere_winners
),
hashed AS (
    SELECT event_id, day, source_file, source_row, in_window,
           md5_number(to_json(struct_pack(
               event_id := event_id, occurred_at := occurred_at, city_id := city_id,
               user_id := user_id, service := service, model_id := model_id,
               provider := provider, status := status, error := error,
               input_tokens := input_tokens, output_tokens := output_tokens,
               cached_input_tokens := cached_input_tokens,
               reasoning_tokens := reasoning_tokens, latency_ms := latency_ms,
               cost_credits := cost_credits, metadata_json := metadata_json))::VARCHAR
           ) AS content_hash
    FROM candidates
)
SELECT c.event_id, c.day, c.source_file, c.source_row, w.winner_file, w.winner_row,
       CASE WHEN c.source_file = w.winner_file AND c.source_row = w.winner_row THEN 'accepted'
            WHEN c.content_hash = h.content_hash THEN 'identical'
            -- (a winner row that could not be read is never equal: quarantined, not dropped)
            ELSE 'conflict' END AS outcome
FROM hashed c
JOIN winners w USING (event_id)
LEFT JOIN hashed h ON h.source_file = w.winner_file AND h.source_row = w.winner_row
WHERE c.in_window
