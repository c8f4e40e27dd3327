DELETE FROM usage_files WHERE file_id = $file_id
