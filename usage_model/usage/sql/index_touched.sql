-- Ids whose set of copies changes: every id of a newly indexed file, and every id of a file
-- whose rows leave the index (removed, or rewritten and scanned again). Not deduplicated: it
-- is only probed for membership (find_copies).
CREATE OR REPLACE TEMP TABLE index_touched AS
SELECT event_id, id_hash FROM index_new WHERE list_contains($new_files::BIGINT[], file_id)
UNION ALL
SELECT event_id, id_hash FROM {{carried}}
WHERE NOT file_id IN (SELECT file_id FROM index_kept)
