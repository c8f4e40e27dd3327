-- Rows of segments being replaced that stay: those of files the manifest still indexes.
INSERT INTO index_new
SELECT id_hash, event_id, day, file_id, source_row
FROM {{carried}}
WHERE file_id IN (SELECT file_id FROM index_kept)
