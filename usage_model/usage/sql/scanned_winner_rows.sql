-- The winners outside the window, from their files' scanned rows.
INSERT INTO {{table}} BY NAME
SELECT s.* FROM read_parquet($files, hive_partitioning = false) s
SEMI JOIN winners w ON w.winner_file = s.source_file AND w.winner_row = s.source_row
