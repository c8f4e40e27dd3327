-- The index rows of one newly scanned file, from its scanned rows (the landed file is not
-- read again); id_hash was computed once by the scan (validate.sql).
INSERT INTO index_new
SELECT id_hash, event_id, day, $file_id AS file_id, source_row
FROM read_parquet($scanned, hive_partitioning = false)
