-- Rows of one scanned file that broke a rule, with the row as it landed.
INSERT INTO usage_quarantine
SELECT $source_file, s.source_row, nullif(s.event_id, ''), s.day, s.reason, s.detail, r.raw_json,
       NULL, now()
FROM scan_rows s
JOIN raw_json_rows r USING (source_row)
WHERE s.reason IS NOT NULL
