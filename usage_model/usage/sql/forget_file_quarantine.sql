DELETE FROM usage_quarantine WHERE source_file = $path
