-- Valid rows per day of one scanned file.
SELECT day, count(*) AS rows FROM scan_rows WHERE reason IS NULL GROUP BY day ORDER BY day
