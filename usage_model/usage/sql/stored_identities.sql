SELECT path, size_bytes, mtime_ns, ctime_ns, footer_sha256, fingerprint, settled_at_ns
FROM usage_files
