-- Valid rows per day of the file just scanned (conservation counts, old days on removal),
-- from the registered Arrow table `scan_file_days` (day, rows: see scan_day_counts.sql).
INSERT INTO usage_file_days
SELECT $file_id, day, rows FROM scan_file_days
