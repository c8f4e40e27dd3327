-- The new segments' rows of the buckets $first..$last, bucket by bucket, each sorted by hash
-- so a reader's row-group statistics prune by id.
SELECT id_hash % $buckets::UBIGINT AS bucket,
       id_hash, event_id, day, file_id, source_row
FROM index_new
WHERE id_hash % $buckets::UBIGINT BETWEEN $first AND $last
ORDER BY bucket, id_hash, file_id, source_row
