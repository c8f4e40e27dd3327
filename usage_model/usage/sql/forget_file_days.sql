DELETE FROM usage_file_days WHERE file_id = $file_id
