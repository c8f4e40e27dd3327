-- One bucket range's copies of repeated ids after the update, for the ids whose copies change
-- (index_touched): the copies already in the index of files still indexed
-- (index_other_copies) and the new files' rows, when there are more than one.
INSERT INTO repeated_come
WITH copies AS (
    SELECT event_id, id_hash, day, file_id, source_row FROM index_other_copies
    UNION ALL
    SELECT event_id, id_hash, day, file_id, source_row FROM index_new
    WHERE list_contains($new_files::BIGINT[], file_id)
),
-- By the 8-byte hash first (cheap), then exactly by the id.
repeated AS (SELECT id_hash FROM copies GROUP BY id_hash HAVING count(*) > 1)
SELECT * FROM copies SEMI JOIN repeated USING (id_hash)
QUALIFY count(*) OVER (PARTITION BY event_id) > 1
