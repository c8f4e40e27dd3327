-- One bucket range's staged new index rows (id_index._stage_new_rows).
INSERT INTO index_new
SELECT id_hash, event_id, day, file_id, source_row
FROM {{staged}}
