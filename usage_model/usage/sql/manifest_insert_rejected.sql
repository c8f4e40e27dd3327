-- A landed file rejected whole (unreadable, wrong schema): its manifest entry.
INSERT INTO usage_files (file_id, path, size_bytes, mtime_ns, ctime_ns, fingerprint,
                         footer_sha256, settled_at_ns, status, rows_read, rows_valid, rows_invalid, scanned_at)
VALUES ($id, $path, $size, $mtime, $ctime, $fp, $footer, $settled, $status, $rows, 0, $rows, now())
