-- For every event_id among the rows being built that has more than one valid copy, the
-- first-seen copy across all landed files and all days (docs/event-model.md rule 7: landing path, then row
-- order). The window's own copies are all in build_rows; copies on other days (rare) were
-- gathered into `copies_elsewhere`. An id with a single copy has no entry: that copy wins
-- (most ids: ranking only the repeated ones keeps this and classify.sql small).
-- elsewhere_file_id is set when the winner is outside the window: copy_outcomes.sql reads its
-- content from that file's scanned rows.
CREATE OR REPLACE TEMP TABLE winners AS
WITH copies AS (
    SELECT event_id, id_hash, source_file AS path, source_row, NULL::BIGINT AS file_id
    FROM build_rows
    UNION ALL
    SELECT event_id, id_hash, path, source_row, file_id FROM copies_elsewhere
),
-- Grouped by the 8-byte id hash (cheap), ranked by the id itself: two ids sharing a hash are
-- both kept here, and each one alone in its partition wins, as it would without an entry.
repeated AS (
    SELECT id_hash FROM copies GROUP BY id_hash HAVING count(*) > 1
)
SELECT event_id, path AS winner_file, source_row AS winner_row, file_id AS elsewhere_file_id
FROM copies SEMI JOIN repeated USING (id_hash)
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY path, source_row) = 1
