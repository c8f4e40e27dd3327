-- Phase two: the index rows (of files the manifest holds and has indexed) that share an
-- event_id with {{ids}}. `$hashes` (the hashes phase one matched) is pushed into the Parquet
-- scan, so the wide columns are read for those rows only; NULL when too many matched for a
-- literal list (bulk copies): the id join alone filters.
CREATE OR REPLACE TEMP TABLE {{target}} AS
SELECT i.event_id, i.id_hash, f.path, i.source_row, i.day, i.file_id
FROM read_parquet($segments::VARCHAR[], hive_partitioning = false) i
JOIN usage_files f ON f.file_id = i.file_id AND f.status = 'ok' AND f.indexed
WHERE ($hashes::UBIGINT[] IS NULL OR list_contains($hashes::UBIGINT[], i.id_hash))
  AND i.event_id IN (SELECT event_id FROM {{ids}})
