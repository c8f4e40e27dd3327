SELECT count(*), count(*) FILTER (WHERE status <> 'ok'), coalesce(sum(rows_read), 0)
FROM usage_files
