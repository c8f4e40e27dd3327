UPDATE usage_files SET indexed = true WHERE file_id IN (SELECT unnest($file_ids))
