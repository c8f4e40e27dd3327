-- Quarantine entries, quarantined rows (a whole file counts its rows) and rows read.
SELECT (SELECT count(*) FROM usage_quarantine),
       (SELECT count(*) FILTER (WHERE source_row IS NOT NULL)
               + coalesce(sum(row_count) FILTER (WHERE source_row IS NULL), 0)
        FROM usage_quarantine),
       (SELECT coalesce(sum(rows_read), 0) FROM usage_files)
