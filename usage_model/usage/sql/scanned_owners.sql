-- Which scanned-row files the manifest owns (file id and fingerprint name them).
SELECT file_id, fingerprint FROM usage_files WHERE status = 'ok' AND fingerprint IS NOT NULL
