-- One bucket's new segment, sorted by hash so a reader's row-group statistics prune by id.
SELECT id_hash, event_id, day, file_id, source_row, content_hash_hi, content_hash_lo
FROM index_new
WHERE id_hash % $buckets = $bucket
ORDER BY id_hash, file_id, source_row
