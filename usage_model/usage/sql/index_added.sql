-- The index rows of one newly scanned file, from its scanned rows (the landed file is not
-- read again). id_hash is md5 (RFC 1321) of the id, low 64 bits: stable across versions and
-- machines, so it also names the id's bucket (id_hash % buckets).
INSERT INTO index_new
SELECT md5_number_lower(event_id) AS id_hash, event_id, day, $file_id AS file_id, source_row,
       content_hash_hi, content_hash_lo
FROM read_parquet($scanned, hive_partitioning = false)
