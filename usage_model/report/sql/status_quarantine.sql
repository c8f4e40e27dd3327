-- Per reason: rejected rows, and whole files (no row number).
SELECT reason, count(*) FILTER (WHERE source_row IS NOT NULL),
       count(*) FILTER (WHERE source_row IS NULL)
FROM usage_quarantine
GROUP BY reason ORDER BY count(*) DESC, reason
