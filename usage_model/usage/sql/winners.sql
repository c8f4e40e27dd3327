-- For every event_id among the rows being built that has more than one valid copy, the
-- first-seen copy across all landed files and all days (docs/event-model.md rule 7: landing path, then row
-- order). The window's own copies are all in build_rows; copies on other days (rare) were
-- gathered into `copies_elsewhere`. An id with a single copy has no entry: that copy wins
-- (most ids: ranking only the repeated ones keeps this and classify.sql small).
CREATE OR REPLACE TEMP TABLE winners AS
WITH copies AS (
    SELECT event_id, source_file AS path, source_row, content_hash, day FROM build_rows
    UNION ALL
    SELECT event_id, path, source_row, content_hash, day FROM copies_elsewhere
),
repeated AS (
    SELECT event_id FROM copies GROUP BY event_id HAVING count(*) > 1
)
SELECT event_id, path AS winner_file, source_row AS winner_row,
       content_hash AS winner_hash, day AS winner_day
FROM copies SEMI JOIN repeated USING (event_id)
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY path, source_row) = 1
