-- Fill the record from the current segments of one bucket (a warehouse from before it):
-- the index rows of files the manifest holds and has indexed, of ids with more than one.
INSERT INTO usage_repeated_ids
WITH copies AS (
    SELECT i.event_id, i.id_hash, i.day, i.file_id, i.source_row
    FROM {{segments}} i
    JOIN usage_files f ON f.file_id = i.file_id AND f.status = 'ok' AND f.indexed
),
repeated AS (SELECT id_hash FROM copies GROUP BY id_hash HAVING count(*) > 1)
SELECT * FROM copies SEMI JOIN repeated USING (id_hash)
QUALIFY count(*) OVER (PARTITION BY event_id) > 1
