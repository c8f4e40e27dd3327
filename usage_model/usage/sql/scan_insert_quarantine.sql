-- Rows of one scanned file that broke a rule (the registered Arrow table `scan_quarantine`,
-- see scan_quarantine_rows.sql).
INSERT INTO usage_quarantine
SELECT $source_file, source_row, event_id, day, reason, detail, raw_json, NULL, now()
FROM scan_quarantine
