-- The index rows of the newly scanned files, from their scanned rows (the landed files are
-- not read again; id_hash was computed once by the scan, validate.sql), with the bucket that
-- partitions them in the update's staging folder.
SELECT s.id_hash, s.event_id, s.day, f.file_id, s.source_row,
       s.id_hash % $buckets::UBIGINT AS bucket
FROM read_parquet($files::VARCHAR[], hive_partitioning = false, filename = true) s
JOIN (SELECT unnest($files::VARCHAR[]) AS filename, unnest($file_ids::BIGINT[]) AS file_id) f
    USING (filename)
