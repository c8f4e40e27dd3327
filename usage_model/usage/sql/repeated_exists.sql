SELECT count(*) FROM duckdb_tables()
WHERE table_name = 'usage_repeated_ids' AND NOT temporary AND schema_name = 'main'
