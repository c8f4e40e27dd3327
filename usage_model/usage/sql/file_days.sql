-- The days a landed file has valid rows on.
SELECT day FROM usage_file_days WHERE file_id = $file_id
