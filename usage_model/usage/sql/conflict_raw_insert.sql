-- The landed JSON of one file's conflicting rows (raw_json_rows: that file's rows).
INSERT INTO conflict_raw
SELECT $path, r.source_row, r.raw_json
FROM raw_json_rows r
SEMI JOIN (SELECT source_row FROM copy_outcomes
           WHERE outcome = 'conflict' AND source_file = $path) c ON c.source_row = r.source_row
