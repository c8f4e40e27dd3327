-- The files holding a winner outside the window (their scanned rows give its content),
-- with the columns window_files.sql gives.
SELECT file_id, path, rows_valid, size_bytes, mtime_ns, ctime_ns, footer_sha256, fingerprint
FROM usage_files
WHERE file_id IN (SELECT elsewhere_file_id FROM winners WHERE elsewhere_file_id IS NOT NULL)
ORDER BY path
