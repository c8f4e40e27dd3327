-- Phase two, in a fold (no warehouse): the index rows of files indexed when the update was
-- planned (index_kept) that share an event_id with {{ids}}. `$hashes` (the hashes phase one
-- matched) is pushed into the Parquet scan, so the wide columns are read for those rows only;
-- NULL when too many matched for a literal list (bulk copies): the id join alone filters.
CREATE OR REPLACE TEMP TABLE {{target}} AS
SELECT i.event_id, i.id_hash, NULL::VARCHAR AS path, i.source_row, i.day, i.file_id
FROM {{segments}} i
WHERE i.file_id IN (SELECT file_id FROM index_kept)
  AND ($hashes::UBIGINT[] IS NULL OR list_contains($hashes::UBIGINT[], i.id_hash))
  AND i.event_id IN (SELECT event_id FROM {{ids}})
