-- The copies, outside the days `$exclude_days`, of the ids of {{ids}} (event_id, id_hash)
-- that have more than one copy in the index: from the record of repeated ids, never the
-- segments. Rows of files the manifest no longer holds or has not indexed do not count.
CREATE OR REPLACE TEMP TABLE {{target}} AS
WITH recorded AS (
    SELECT * FROM usage_repeated_ids r
    WHERE r.day NOT IN (SELECT unnest($exclude_days::DATE[]))
)
SELECT r.event_id, r.id_hash, f.path, r.source_row, r.day, r.file_id
FROM recorded r
SEMI JOIN {{ids}} b ON b.id_hash = r.id_hash AND b.event_id = r.event_id
JOIN usage_files f ON f.file_id = r.file_id AND f.status = 'ok' AND f.indexed
