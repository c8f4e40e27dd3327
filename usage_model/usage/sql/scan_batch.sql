-- One batch of a file's rows (`scan_rows`, `raw_json_rows`) added to its tally and
-- quarantine (scan_begin.sql).
INSERT INTO scan_tally
SELECT reason IS NULL, day, count(*), min(occurred_at), max(occurred_at)
FROM scan_rows
GROUP BY ALL;
INSERT INTO scan_rejected
SELECT s.source_row, nullif(s.event_id, ''), s.day, s.reason, s.detail, r.raw_json
FROM scan_rows s
JOIN raw_json_rows r USING (source_row)
WHERE s.reason IS NOT NULL;
