-- Valid rows per day of one scanned file (its batches' tally, scan_begin.sql).
SELECT day, sum(rows)::BIGINT AS rows FROM scan_tally WHERE valid GROUP BY day ORDER BY day
