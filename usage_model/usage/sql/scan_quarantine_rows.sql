-- Rows of one scanned file that broke a rule, with the row as it landed (scan_begin.sql).
SELECT source_row, event_id, day, reason, detail, raw_json
FROM scan_rejected
ORDER BY source_row
