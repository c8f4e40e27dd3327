SELECT reason, count(*) AS entries,
       count(*) FILTER (WHERE source_row IS NULL) AS whole_files,
       coalesce(sum(row_count), 0)::BIGINT AS rows_in_whole_files
FROM usage_quarantine GROUP BY reason ORDER BY entries DESC, reason
