-- Same bytes, new times (a `touch`, a copy keeping content): only the times are refreshed.
UPDATE usage_files SET mtime_ns = $mtime, ctime_ns = $ctime, footer_sha256 = $footer,
    settled_at_ns = $settled
WHERE path = $path
