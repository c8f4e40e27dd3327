-- Phase one of an index lookup: which of the ids' 8-byte hashes occur in the bucket segments
-- `$segments` on days other than `$exclude_days`. Only the id_hash and day columns are read,
-- so this scan stays narrow as the history grows; the exact rows are read in phase two (index_copies.sql) for these alone.
SELECT DISTINCT i.id_hash
FROM read_parquet($segments::VARCHAR[], hive_partitioning = false) i
WHERE i.day NOT IN (SELECT unnest($exclude_days::DATE[]))
  AND i.id_hash IN (SELECT id_hash FROM {{ids}})
