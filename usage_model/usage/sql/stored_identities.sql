SELECT path, size_bytes, mtime_ns, ctime_ns, footer_sha256, fingerprint FROM usage_files
