SELECT bucket, segment, seq, rows, file_ids FROM usage_index_segments ORDER BY seq
