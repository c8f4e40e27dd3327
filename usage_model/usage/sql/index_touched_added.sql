-- Ids whose set of copies changes, when no rows leave the index: every newly indexed id (not
-- deduplicated: only probed for membership).
CREATE OR REPLACE TEMP TABLE index_touched AS
SELECT event_id, id_hash FROM index_new WHERE list_contains($new_files::BIGINT[], file_id)
