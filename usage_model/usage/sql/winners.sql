-- For every event_id among the rows being built, the first-seen valid copy across all landed
-- files and all days (DESIGN rule 7: landing path, then row order).
CREATE OR REPLACE TEMP TABLE winners AS
SELECT i.event_id, f.path AS winner_file, i.source_row AS winner_row,
       i.content_hash AS winner_hash, i.day AS winner_day
FROM usage_event_index i
JOIN usage_files f USING (file_id)
WHERE i.event_id IN (SELECT event_id FROM build_rows)
QUALIFY row_number() OVER (PARTITION BY i.event_id ORDER BY f.path, i.source_row) = 1
