-- The ok files with valid rows in the window [first, last], in path order.
SELECT file_id, path, rows_valid, size_bytes, mtime_ns, ctime_ns, footer_sha256, fingerprint
FROM usage_files
WHERE status = 'ok' AND min_day <= $last AND max_day >= $first
ORDER BY path
