-- Each manifest file's identity (as stored_identities.sql) and the days its valid rows touch.
SELECT path, size_bytes, mtime_ns, ctime_ns, footer_sha256, fingerprint, settled_at_ns,
       min_day, max_day
FROM usage_files
