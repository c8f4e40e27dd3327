INSERT INTO downcity_rejects (source_file, source_row, reason, detail, raw_json, rejected_at)
VALUES ($source_file, $source_row, $reason, $detail, $raw_json, $rejected_at)
