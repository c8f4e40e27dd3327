SELECT file_id, min_day FROM usage_files WHERE path = $path
