-- Valid rows per day of the file just scanned (conservation counts, old days on removal).
INSERT INTO usage_file_days
SELECT $file_id, day, count(*) FROM scan_rows WHERE reason IS NULL GROUP BY day
