-- An update's changes to the record (inside its commit).
DELETE FROM usage_repeated_ids WHERE event_id IN (SELECT event_id FROM repeated_gone);
INSERT INTO usage_repeated_ids SELECT * FROM repeated_come
