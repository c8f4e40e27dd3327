-- What the scan of one file found: rows, valid rows, and the valid rows' day and time range.
SELECT count(*), count(*) FILTER (WHERE reason IS NULL),
       min(day) FILTER (WHERE reason IS NULL), max(day) FILTER (WHERE reason IS NULL),
       min(occurred_at) FILTER (WHERE reason IS NULL),
       max(occurred_at) FILTER (WHERE reason IS NULL)
FROM scan_rows
