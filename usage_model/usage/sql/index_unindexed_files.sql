-- Manifest files scanned but not yet folded into the index.
SELECT file_id, fingerprint, rows_valid FROM usage_files
WHERE status = 'ok' AND indexed IS NOT TRUE
ORDER BY file_id
