-- The scanned rows of the window's files on its days, the content hash joined again.
INSERT INTO {{table}} BY NAME
SELECT * EXCLUDE (content_hash_hi, content_hash_lo),
       ((content_hash_hi::UHUGEINT << 64) | content_hash_lo::UHUGEINT) AS content_hash
FROM read_parquet($files, hive_partitioning = false)
WHERE day IN (SELECT unnest($days::DATE[]))
