INSERT INTO usage_index_segments VALUES ($bucket, $segment, $seq, $rows, $file_ids)
