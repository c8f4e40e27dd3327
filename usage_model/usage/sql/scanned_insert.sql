-- The scanned rows of the window's files on its days.
INSERT INTO {{table}} BY NAME
SELECT * FROM read_parquet($files, hive_partitioning = false)
WHERE day IN (SELECT unnest($days::DATE[]))
