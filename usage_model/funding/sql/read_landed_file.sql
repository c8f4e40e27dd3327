SELECT * FROM read_parquet($path, hive_partitioning = false)
