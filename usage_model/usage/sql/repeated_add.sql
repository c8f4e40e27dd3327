-- The copies of repeated ids the folds found for their touched ids ($come).
INSERT INTO usage_repeated_ids
SELECT event_id, id_hash, day, file_id, source_row FROM {{come}}
