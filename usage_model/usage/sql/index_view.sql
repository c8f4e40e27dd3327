-- The current index rows of indexed ok files (inspection and tests).
SELECT i.id_hash, i.event_id, i.day, i.file_id, i.source_row
FROM {{segments}} i
JOIN usage_files f ON f.file_id = i.file_id AND f.status = 'ok' AND f.indexed
