-- Rows of one scanned file that broke a rule, with the row as it landed.
SELECT s.source_row, nullif(s.event_id, '') AS event_id, s.day, s.reason, s.detail, r.raw_json
FROM scan_rows s
JOIN raw_json_rows r USING (source_row)
WHERE s.reason IS NOT NULL
ORDER BY s.source_row
