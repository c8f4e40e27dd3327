-- A scanned file's manifest entry.
INSERT INTO usage_files (file_id, path, size_bytes, mtime_ns, ctime_ns, fingerprint,
                         footer_sha256, settled_at_ns, shape, status, rows_read, rows_valid, rows_invalid,
                         min_day, max_day, min_occurred_at, max_occurred_at, scanned_at)
VALUES ($id, $path, $size, $mtime, $ctime, $fp, $footer, $settled, $shape, 'ok', $rows, $valid, $invalid,
        $min_day, $max_day, $min_at, $max_at, now())
