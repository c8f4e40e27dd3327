SELECT file_id FROM usage_files WHERE status = 'ok' AND indexed
